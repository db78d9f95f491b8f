/**
 * One coverage-guided fuzzing run of one target, in a process of its own (run.ts starts it):
 *
 *   node dist/test/fuzz/engine/worker.js <target> <seconds> [--seed=N] [--no-save]
 *
 * Instruments src/ as it loads, fuzzes for the time given, then merges what it found into
 * test/fuzz/corpus/<target>/ and writes failing inputs to test/fuzz/crashes/<target>/. The last line it
 * prints is `RESULT {json}`.
 */
import { inspect } from 'node:util';
import { loadCorpus, saveCrash, writeCorpus } from './corpus.js';
import { Coverage } from './coverage.js';
import { fuzz, merge } from './fuzzer.js';
import { SRC_URL } from './paths.js';

/** Inputs kept per target beyond the seeds (the corpus stays small enough to keep in git). */
const CORPUS_LIMIT = 48;

async function main(): Promise<void> {
  const [name, secondsText, ...flags] = process.argv.slice(2);
  const seconds = Number(secondsText);
  if (name === undefined || !(seconds > 0))
    throw new Error('usage: worker.js <target> <seconds> [--seed=N] [--no-save]');
  const seedFlag = flags.find((f) => f.startsWith('--seed='));
  const seed = seedFlag === undefined ? (Date.now() ^ process.pid) >>> 0 : Number(seedFlag.slice(7));
  const save = !flags.includes('--no-save');

  const coverage = new Coverage();
  coverage.install(SRC_URL);
  const { targets } = await import('../targets/index.js');
  const target = targets[name];
  if (target === undefined) throw new Error(`no target ${name}: ${Object.keys(targets).join(', ')}`);

  const log = (line: string): void => console.log(`[${name}] ${line}`);
  log(`${target.description}; ${seconds} s, seed ${seed}`);
  const start = loadCorpus(target);
  const crashes: string[] = [];
  const result = await fuzz(target, start, {
    ms: seconds * 1000,
    seed,
    coverage,
    log,
    onFailure: (failure) => {
      if (!save) return;
      const report =
        `# ${target.name}: ${failure.signature}\n\nInput (hex): \`${failure.input.toString('hex')}\`\n\n` +
        `\`\`\`\n${inspect(failure.error)}\n\`\`\`\n`;
      crashes.push(saveCrash(target, failure.input, report));
    },
  });

  let saved = { added: 0, removed: 0 };
  if (save) {
    const seeds = Object.values(target.seeds());
    const kept = await merge(target, seeds, result.corpus, coverage, CORPUS_LIMIT);
    saved = writeCorpus(target, kept);
    log(`corpus: ${seeds.length} seeds + ${kept.length} kept (${saved.added} new, ${saved.removed} removed)`);
  }
  const summary = {
    target: name,
    seconds,
    seed,
    execs: result.execs,
    execsPerSecond: Math.round(result.execs / (result.ms / 1000)),
    edges: coverage.edges,
    features: coverage.features,
    counters: coverage.used,
    corpusInMemory: result.corpus.length,
    failures: result.failures.map((f) => f.signature),
    knownBugHits: result.knownHits,
    crashes,
    ...saved,
  };
  console.log(`RESULT ${JSON.stringify(summary)}`);
  // zlib streams or sockets a target left behind must not keep the worker alive.
  process.exit(0);
}

// `node --test dist/test/` runs every file under a test/ folder, this one included: nothing to do then.
if (process.env.NODE_TEST_CONTEXT === undefined) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(2);
  });
}
