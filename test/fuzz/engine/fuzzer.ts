/**
 * The fuzzing loop. With coverage (a worker that instrumented src/, coverage.ts), it is guided the way
 * libFuzzer is: a mutated input that reaches a new feature joins the in-memory corpus and is mutated in
 * turn; at the end the corpus is merged (the smallest inputs that together reach every branch reached)
 * and saved. Without coverage (the short run in `npm test`), it mutates the corpus blindly for a bounded
 * time, from a fixed seed.
 *
 * An input that breaks an invariant is minimized (bytes removed while it still fails the same way) and
 * reported once per kind of failure; the loop goes on.
 */
import { inspect } from 'node:util';
import { Rng } from '../../support/random.js';
import type { CorpusEntry } from './corpus.js';
import type { Coverage } from './coverage.js';
import { type MutationContext, mutate } from './mutate.js';
import type { FuzzTarget } from './target.js';

export interface Failure {
  readonly input: Buffer;
  readonly error: unknown;
  /** The kind of failure: the error's name and first line, numbers masked. */
  readonly signature: string;
}

export interface FuzzOptions {
  /** Stop after this long. */
  readonly ms: number;
  /** Or after this many executions. */
  readonly maxExecs?: number;
  readonly seed: number;
  readonly coverage?: Coverage | null;
  /** Progress lines (every `statusEveryMs`). */
  readonly log?: (line: string) => void;
  readonly statusEveryMs?: number;
  /** Called for each new kind of failure, after minimization. */
  readonly onFailure?: (failure: Failure) => void;
  /** Time spent minimizing one failing input. Default 10 s (0: none). */
  readonly minimizeMs?: number;
}

export interface FuzzResult {
  readonly execs: number;
  readonly ms: number;
  /** The in-memory corpus at the end (the loaded one plus what coverage added). */
  readonly corpus: Buffer[];
  readonly added: number;
  readonly failures: Failure[];
  /** Executions that hit one of the target's known bugs. */
  readonly knownHits: number;
}

export function signatureOf(error: unknown): string {
  const e = error instanceof Error ? error : new Error(String(error));
  const first = (e.message.split('\n')[0] ?? '').slice(0, 160);
  return `${e.name}: ${first}`.replace(/\d+/g, '#');
}

/** Whether `error` is one of the target's known bugs. */
export function isKnown(target: FuzzTarget, error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return target.known?.some((k) => k.signature.test(message)) ?? false;
}

/** Run one input; the error it threw unless it is a known bug, or null. */
export async function runChecked(target: FuzzTarget, input: Buffer): Promise<unknown> {
  const error = await runOne(target, input);
  return error !== null && isKnown(target, error) ? null : error;
}

/** Run one input; the error it threw, or null. */
export async function runOne(target: FuzzTarget, input: Buffer): Promise<unknown> {
  try {
    const result = target.run(Buffer.from(input));
    if (result !== undefined) await result;
    return null;
  } catch (error) {
    return error ?? new Error('threw a nullish value');
  }
}

/** Remove bytes while the input still fails with the same signature. */
export async function minimize(
  target: FuzzTarget,
  input: Buffer,
  signature: string,
  ms: number,
): Promise<Buffer> {
  const deadline = Date.now() + ms;
  let best = input;
  const stillFails = async (candidate: Buffer): Promise<boolean> => {
    const error = await runOne(target, candidate);
    return error !== null && signatureOf(error) === signature;
  };
  for (let size = Math.max(1, best.length >> 1); size >= 1 && Date.now() < deadline; ) {
    let removed = false;
    for (let at = 0; at < best.length && Date.now() < deadline; ) {
      const candidate = Buffer.concat([best.subarray(0, at), best.subarray(at + size)]);
      if (await stillFails(candidate)) {
        best = candidate;
        removed = true;
      } else {
        at += size;
      }
    }
    if (!removed) size >>= 1;
  }
  return best;
}

export async function fuzz(
  target: FuzzTarget,
  start: CorpusEntry[],
  options: FuzzOptions,
): Promise<FuzzResult> {
  const began = Date.now();
  const deadline = began + options.ms;
  const rng = new Rng(options.seed);
  const coverage = options.coverage ?? null;
  const log = options.log ?? (() => undefined);
  const failures: Failure[] = [];
  const signatures = new Set<string>();

  const report = async (input: Buffer, error: unknown): Promise<void> => {
    const signature = signatureOf(error);
    if (signatures.has(signature)) return;
    signatures.add(signature);
    let small = input;
    const minimizeMs = options.minimizeMs ?? 10_000;
    if (minimizeMs > 0) small = await minimize(target, input, signature, minimizeMs);
    const last = await runOne(target, small);
    const failure = { input: small, error: last ?? error, signature };
    failures.push(failure);
    log(`failure ${signature} (${small.length} bytes)\n${inspect(failure.error)}`);
    options.onFailure?.(failure);
  };

  // The starting corpus: each input run once (with coverage, what it reaches is recorded).
  const corpus: Buffer[] = [];
  for (const entry of start) {
    const error = await runChecked(target, entry.data);
    coverage?.collect();
    if (error !== null) await report(entry.data, error);
    corpus.push(entry.data);
  }
  if (corpus.length === 0) corpus.push(Buffer.alloc(0));
  const initial = corpus.length;

  const dictionary = [
    ...new Set([
      ...target.dictionary.map((t) => Buffer.from(t).toString('latin1')),
      ...(coverage?.dictionary ?? []),
    ]),
  ].map((t) => Buffer.from(t, 'latin1'));
  const context: MutationContext = {
    rng,
    maxLength: target.maxLength,
    dictionary,
    other: () => corpus[rng.below(corpus.length)]!,
    custom: target.mutate?.bind(target),
  };

  let execs = 0;
  let knownHits = 0;
  let nextStatus = Date.now() + (options.statusEveryMs ?? 10_000);
  const status = (): string => {
    const seconds = (Date.now() - began) / 1000;
    const rate = Math.round(execs / Math.max(seconds, 0.001));
    const cov = coverage === null ? '' : ` cov: ${coverage.edges} ft: ${coverage.features}`;
    const known = knownHits > 0 ? ` known-bug hits: ${knownHits}` : '';
    return `#${execs}${cov} corp: ${corpus.length} exec/s: ${rate} failures: ${failures.length}${known}`;
  };
  while (Date.now() < deadline && (options.maxExecs === undefined || execs < options.maxExecs)) {
    // Recent additions are picked more often: they are where the frontier is.
    const recent = corpus.length - initial;
    const parent =
      recent > 0 && rng.below(2) === 0
        ? corpus[initial + recent - 1 - rng.below(Math.min(recent, 16))]!
        : corpus[rng.below(corpus.length)]!;
    const child = mutate(parent, context);
    let error = await runOne(target, child);
    if (error !== null && isKnown(target, error)) {
      knownHits++;
      error = null;
    }
    execs++;
    if (coverage !== null && coverage.collect() > 0 && error === null) corpus.push(child);
    if (error !== null) await report(child, error);
    if (Date.now() >= nextStatus) {
      log(status());
      nextStatus = Date.now() + (options.statusEveryMs ?? 10_000);
    }
  }
  log(`done ${status()}`);
  return { execs, ms: Date.now() - began, corpus, added: corpus.length - initial, failures, knownHits };
}

/**
 * Choose a small corpus reaching every branch the inputs reach beyond the baseline (the seeds):
 * smallest first, each kept if it reaches a counter none before it did (libFuzzer's -merge=1, on
 * branches rather than features), at most `limit` of them.
 */
export async function merge(
  target: FuzzTarget,
  baseline: readonly Buffer[],
  inputs: readonly Buffer[],
  coverage: Coverage,
  limit: number,
): Promise<Buffer[]> {
  const reached = new Set<number>();
  for (const input of baseline) {
    await runOne(target, input);
    const edges: number[] = [];
    coverage.collect(edges);
    for (const e of edges) reached.add(e);
  }
  const kept: Buffer[] = [];
  const sorted = [...inputs].sort((a, b) => a.length - b.length);
  for (const input of sorted) {
    const error = await runChecked(target, input);
    const edges: number[] = [];
    coverage.collect(edges);
    if (error !== null) continue;
    let fresh = false;
    for (const e of edges) {
      if (!reached.has(e)) {
        reached.add(e);
        fresh = true;
      }
    }
    if (fresh) kept.push(input);
    if (kept.length >= limit) break;
  }
  return kept;
}
