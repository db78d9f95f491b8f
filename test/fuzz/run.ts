/**
 * `npm run fuzz -- [seconds] [target ...] [--jobs=N] [--seed=N] [--no-save]`
 *
 * Coverage-guided fuzzing of each target (default: all) for `seconds` each (default 600), one worker
 * process per target, N at a time (default 1). New inputs that reach new branches are merged into
 * test/fuzz/corpus/<target>/; inputs that break an invariant are minimized and written to
 * test/fuzz/crashes/<target>/ with a report beside them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { targets } from './targets/index.js';

const WORKER = fileURLToPath(new URL('./engine/worker.js', import.meta.url));

interface Summary {
  target: string;
  execs: number;
  execsPerSecond: number;
  edges: number;
  features: number;
  failures: string[];
  crashes: string[];
  added: number;
  removed: number;
}

function runWorker(name: string, seconds: number, flags: string[]): Promise<Summary | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, name, String(seconds), ...flags], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let summary: Summary | null = null;
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('RESULT ')) summary = JSON.parse(line.slice(7)) as Summary;
        else console.log(line);
      }
    });
    // A worker stuck in a hang the target could not catch is stopped after its time and a margin.
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) console.log(`[${name}] worker exited with ${code}`);
      resolve(summary);
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flags = args.filter((a) => a.startsWith('--'));
  const positional = args.filter((a) => !a.startsWith('--'));
  const seconds = positional.length > 0 && /^\d+$/.test(positional[0]!) ? Number(positional.shift()) : 600;
  const names = positional.length > 0 ? positional : Object.keys(targets);
  for (const name of names) if (targets[name] === undefined) throw new Error(`no target ${name}`);
  const jobsFlag = flags.find((f) => f.startsWith('--jobs='));
  const jobs = jobsFlag === undefined ? 1 : Math.max(1, Number(jobsFlag.slice(7)));
  const workerFlags = flags.filter((f) => !f.startsWith('--jobs='));

  const queue = [...names];
  const summaries: Summary[] = [];
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const summary = await runWorker(name, seconds, workerFlags);
        if (summary === null) failed = true;
        else summaries.push(summary);
      }
    }),
  );
  console.log('\ntarget        execs      exec/s  edges  features  corpus +/-  failures');
  for (const s of summaries) {
    console.log(
      `${s.target.padEnd(13)} ${String(s.execs).padStart(9)} ${String(s.execsPerSecond).padStart(8)}` +
        ` ${String(s.edges).padStart(6)} ${String(s.features).padStart(9)}  ${`+${s.added}/-${s.removed}`.padStart(10)}` +
        `  ${s.failures.length === 0 ? 'none' : s.failures.join('; ')}`,
    );
    for (const c of s.crashes) console.log(`  saved ${c}`);
  }
  if (failed || summaries.some((s) => s.failures.length > 0)) process.exitCode = 1;
}

// `node --test dist/test/` runs every file under a test/ folder, this one included: nothing to do then.
if (process.env.NODE_TEST_CONTEXT === undefined) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 2;
  });
}
