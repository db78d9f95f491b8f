/**
 * Run the conformance cases outside `node --test` and print an Autobahn-style report, for Conduit or
 * for the `ws` library (the reference point):
 *
 *   node dist/test/conformance/support/report.js [--target conduit,ws] [--side server|client|both]
 *        [--sections 1,2,3,4,5,6,7,9,x] [--concurrency 16] [--second 1000] [--verbose]
 *
 * Targets: `conduit` (WebSocketServer at /echo; the `connect` client), `conduit-serve` (server side
 * only: `conduit serve`'s /echo), `conduit-cli` (client side only: `conduit connect --echo` processes),
 * `ws` (the ws library's server and client, with bufferutil).
 * `--side server` drives the target's server at /echo (Autobahn fuzzingclient), `--side client` lets the
 * target's client connect to our fuzzing server in echo mode (Autobahn fuzzingserver).
 * The table counts Autobahn's verdict (behavior, then close behavior); "strict" counts the cases Autobahn
 * would pass that fail this suite's stricter rules (see case-run.ts). Exits 1 when any case is not OK.
 *
 * Under `node --test` (which runs every file below test/) this file does nothing.
 */

import { casesIn, sectionOf } from '../cases/index.js';
import { type CaseResult, type ConformanceCase, describeResult } from './case-run.js';
import type { Timing } from './peer.js';
import { DEFAULT_TIMING, FuzzingServer, runCaseAgainstServer } from './runner.js';
import {
  type ClientTarget,
  cliEchoClient,
  conduitEchoClient,
  type ServerTarget,
  startConduitEchoServer,
  startConduitServe,
  startWsEchoServer,
  wsEchoClient,
} from './targets.js';

const SERVERS: Record<string, () => Promise<ServerTarget>> = {
  conduit: startConduitEchoServer,
  'conduit-serve': startConduitServe,
  ws: startWsEchoServer,
};
const CLIENTS: Record<string, ClientTarget> = {
  conduit: conduitEchoClient,
  'conduit-cli': cliEchoClient,
  ws: wsEchoClient,
};

export const SECTION_TITLES: Record<string, string> = {
  '1': 'Framing',
  '2': 'Pings/Pongs',
  '3': 'Reserved Bits',
  '4': 'Opcodes',
  '5': 'Fragmentation',
  '6': 'UTF-8 Handling',
  '7': 'Close Handling',
  '9': 'Limits/Performance',
  x: 'Beyond Autobahn (fail fast)',
};

/** Run `cases` with at most `concurrency` at a time; large section 9 cases are capped at 2. */
export async function runAll(
  cases: readonly ConformanceCase[],
  concurrency: number,
  runOne: (c: ConformanceCase) => Promise<CaseResult>,
): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  const worker = async (limit: (c: ConformanceCase) => boolean) => {
    for (;;) {
      const i = next;
      if (i >= cases.length || !limit(cases[i]!)) return;
      next++;
      results[i] = await runOne(cases[i]!);
    }
  };
  // Sections in order: everything before 9 with full concurrency, then 9 with 2 at a time.
  const small = (c: ConformanceCase) => sectionOf(c.id) !== '9';
  await Promise.all(Array.from({ length: concurrency }, () => worker(small)));
  await Promise.all(Array.from({ length: 2 }, () => worker(() => true)));
  return results;
}

export async function runServerSide(
  target: ServerTarget,
  cases: readonly ConformanceCase[],
  concurrency: number,
  timing: Timing = DEFAULT_TIMING,
): Promise<CaseResult[]> {
  return runAll(cases, concurrency, (c) => runCaseAgainstServer(c, target.url, timing));
}

export async function runClientSide(
  target: ClientTarget,
  cases: readonly ConformanceCase[],
  concurrency: number,
  timing: Timing = DEFAULT_TIMING,
): Promise<CaseResult[]> {
  const server = new FuzzingServer(timing);
  await server.listen();
  try {
    return await runAll(cases, concurrency, async (c) => {
      const { url, result } = server.expect(c, target.name);
      const outcome = await target.run(url);
      if (outcome.code === null) server.abandon(url, `client did not connect: ${outcome.error}`);
      return result;
    });
  } finally {
    await server.close();
  }
}

function verdictOf(r: CaseResult): string {
  if (r.behavior !== 'OK' && r.behavior !== 'INFORMATIONAL') return r.behavior;
  if (r.behaviorClose !== 'OK') return r.behaviorClose;
  return r.behavior;
}

export function printReport(title: string, results: readonly CaseResult[], verbose: boolean): boolean {
  console.log(`\n== ${title} ==`);
  const columns = [
    'OK',
    'NON-STRICT',
    'FAILED',
    'WRONG CODE',
    'UNCLEAN',
    'FAILED BY CLIENT',
    'INFORMATIONAL',
  ];
  console.log(`${'section'.padEnd(38)}${columns.map((c) => c.padStart(12)).join('')}${'strict'.padStart(9)}`);
  const sections = [...new Set(results.map((r) => sectionOf(r.id)))];
  const totals = new Map<string, number>();
  let strictTotal = 0;
  for (const section of sections) {
    const inSection = results.filter((r) => sectionOf(r.id) === section);
    const counts = new Map<string, number>();
    for (const r of inSection) {
      const v = verdictOf(r);
      counts.set(v, (counts.get(v) ?? 0) + 1);
      totals.set(v, (totals.get(v) ?? 0) + 1);
    }
    const strict = inSection
      .filter((r) => verdictOf(r) === 'OK' || verdictOf(r) === 'INFORMATIONAL')
      .filter((r) => r.strictFailures.length > 0).length;
    strictTotal += strict;
    const label = `${section} ${SECTION_TITLES[section] ?? ''} (${inSection.length})`;
    console.log(
      `${label.padEnd(38)}${columns.map((c) => String(counts.get(c) ?? 0).padStart(12)).join('')}${String(strict).padStart(9)}`,
    );
  }
  console.log(
    `${`total (${results.length})`.padEnd(38)}${columns.map((c) => String(totals.get(c) ?? 0).padStart(12)).join('')}${String(strictTotal).padStart(9)}`,
  );
  const bad = results.filter((r) => !r.passed);
  for (const r of bad) console.log(describeResult(r));
  if (verbose) {
    for (const r of results.filter((x) => x.passed))
      console.log(`ok ${r.id} (${r.durationMs} ms) ${r.description}`);
  }
  return bad.length === 0;
}

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

async function main(): Promise<void> {
  const targets = argument('target', 'conduit,ws').split(',');
  const sides = argument('side', 'both');
  const sections = argument('sections', '1,2,3,4,5,6,7,9,x').split(',');
  const concurrency = Number(argument('concurrency', '16'));
  const timing: Timing = {
    ...DEFAULT_TIMING,
    second: Number(argument('second', String(DEFAULT_TIMING.second))),
  };
  const verbose = process.argv.includes('--verbose');
  const cases = casesIn(sections);
  let allOk = true;
  const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);
  for (const name of targets) {
    const startServer = SERVERS[name];
    const client = CLIENTS[name];
    if (startServer === undefined && client === undefined) throw new Error(`unknown target ${name}`);
    if ((sides === 'server' || sides === 'both') && startServer !== undefined) {
      const target = await startServer();
      const started = Date.now();
      const results = await runServerSide(target, cases, concurrency, timing);
      await target.close();
      allOk = printReport(`${name} server at /echo (${seconds(started)} s)`, results, verbose) && allOk;
    }
    if ((sides === 'client' || sides === 'both') && client !== undefined) {
      const started = Date.now();
      const results = await runClientSide(client, cases, concurrency, timing);
      allOk = printReport(`${name} client in echo mode (${seconds(started)} s)`, results, verbose) && allOk;
    }
  }
  process.exitCode = allOk ? 0 : 1;
}

if (process.env.NODE_TEST_CONTEXT === undefined) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 2;
  });
}
