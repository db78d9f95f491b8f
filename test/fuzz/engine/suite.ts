/**
 * A fuzz target as node:test tests, for `npm test`: every corpus input once, then a bounded run of
 * mutations from a fixed seed (FUZZ_SEED changes it, FUZZ_MS the time), without coverage guidance (the
 * long, guided runs are `npm run fuzz`). Inputs in test/fuzz/crashes/<target>/ that `known` names are
 * known bugs: run as `todo` tests, so they report without failing the suite until the bug is fixed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { loadCorpus, loadCrashes } from './corpus.js';
import { fuzz, runChecked, runOne } from './fuzzer.js';
import type { FuzzTarget } from './target.js';

export interface SuiteOptions {
  /** Crash files (name in test/fuzz/crashes/<target>/) that are known bugs, with what the bug is. */
  readonly known?: Readonly<Record<string, string>>;
  /** Time for the mutation run, ms. Default 1200 (FUZZ_MS overrides). */
  readonly ms?: number;
}

export function fuzzSuite(target: FuzzTarget, options: SuiteOptions = {}): void {
  const known = options.known ?? {};
  const ms = Number(process.env.FUZZ_MS ?? options.ms ?? 1200);
  const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);

  describe(`fuzz target ${target.name}: ${target.description}`, () => {
    it('keeps its invariants on every corpus input', async () => {
      const corpus = loadCorpus(target);
      assert.ok(corpus.length > 0, 'an empty corpus');
      const failed: string[] = [];
      for (const entry of corpus) {
        const error = await runChecked(target, entry.data);
        if (error !== null) failed.push(`${entry.name}: ${inspect(error)}`);
      }
      assert.deepEqual(failed, []);
    });

    it(`keeps its invariants on mutated corpus inputs for ${ms} ms (seed ${seed})`, async () => {
      const result = await fuzz(target, loadCorpus(target), { ms, seed, minimizeMs: 2000 });
      const report = result.failures.map(
        (f) => `${f.signature}\n  input (hex): ${f.input.toString('hex')}\n  ${inspect(f.error)}`,
      );
      assert.deepEqual(report, [], `after ${result.execs} executions`);
    });

    for (const crash of loadCrashes(target)) {
      const note = known[crash.name];
      const title = `keeps its invariants on test/fuzz/crashes/${target.name}/${crash.name}`;
      // Passes once the bug is fixed: then delete the file (or move it to the corpus).
      it(title, { todo: note ?? false }, async () => {
        const error = await runOne(target, crash.data);
        assert.equal(error, null, `${note ?? 'untriaged: name the bug in `known`'}\n${inspect(error)}`);
      });
    }
  });
}
