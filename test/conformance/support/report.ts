/**
 * Run the conformance cases outside `node --test` and print an Autobahn-style report, for Conduit or
 * for the `ws` library (the reference point):
 *
 *   node dist/test/conformance/support/report.js [--target conduit,conduit-dedicated,ws]
 *        [--side server|client|both] [--sections 1,2,3,4,5,6,7,9,x,12,13,x.12,x.13]
 *        [--concurrency 16] [--second 1000] [--verbose]
 *
 * Targets: `conduit` (WebSocketServer at /echo, permessage-deflate off for sections 1-9 and x, shared
 * mode at threshold 0 for the deflate sections 12, 13, x.12, x.13; the `connect` client, its default
 * offer, threshold 0 for the deflate sections), `conduit-dedicated` (server, deflate sections only,
 * dedicated mode), `conduit-shared` (client, deflate sections only, shared mode), `conduit-windows`
 * (client, deflate sections only, offering server_max_window_bits=10; client_max_window_bits=12),
 * `conduit-serve` (server side only: `conduit serve`'s /echo, its default settings), `conduit-cli`
 * (client side only: `conduit connect --echo` processes, default settings), `ws` (the ws library's
 * server and client, with bufferutil; permessage-deflate at threshold 0 in the deflate sections).
 * `--side server` drives the target's server at /echo (Autobahn fuzzingclient), `--side client` lets the
 * target's client connect to our fuzzing server in echo mode (Autobahn fuzzingserver).
 * The table counts Autobahn's verdict (behavior, then close behavior); "strict" counts the cases Autobahn
 * would pass that fail this suite's stricter rules (see case-run.ts). Exits 1 when any case is not OK.
 *
 * Under `node --test` (which runs every file below test/) this file does nothing.
 */

import { casesIn, isDeflateSection, sectionOf } from '../cases/index.js';
import { type CaseResult, type ConformanceCase, describeResult } from './case-run.js';
import type { Timing } from './peer.js';
import { DEFAULT_TIMING, FuzzingServer, runCaseAgainstServer } from './runner.js';
import {
  type ClientTarget,
  cliEchoClient,
  conduitClient,
  conduitEchoClient,
  type ServerTarget,
  startConduitEchoServer,
  startConduitServe,
  startWsEchoServer,
  wsEchoClient,
} from './targets.js';

/** A target's endpoint for the plain sections (1-9, x) and for the deflate ones (12, 13, x.12, x.13). */
interface Variants<T> {
  plain?: T;
  deflate?: T;
}

const SERVERS: Record<string, Variants<() => Promise<ServerTarget>>> = {
  conduit: {
    plain: () => startConduitEchoServer(),
    deflate: () => startConduitEchoServer({ mode: 'shared' }, 'conduit-shared'),
  },
  'conduit-dedicated': { deflate: () => startConduitEchoServer({ mode: 'dedicated' }, 'conduit-dedicated') },
  'conduit-serve': { plain: startConduitServe, deflate: startConduitServe },
  ws: { plain: () => startWsEchoServer(), deflate: () => startWsEchoServer(true) },
};
const CLIENTS: Record<string, Variants<ClientTarget>> = {
  conduit: { plain: conduitEchoClient, deflate: conduitClient('conduit-deflate', { perMessageDeflate: {} }) },
  'conduit-shared': { deflate: conduitClient('conduit-shared', { perMessageDeflate: { mode: 'shared' } }) },
  'conduit-windows': {
    deflate: conduitClient('conduit-windows', {
      perMessageDeflate: { serverMaxWindowBits: 10, clientMaxWindowBits: 12 },
    }),
  },
  'conduit-cli': { plain: cliEchoClient, deflate: cliEchoClient },
  ws: { plain: wsEchoClient, deflate: wsEchoClient },
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
  '12': 'Compression (different payloads)',
  '13': 'Compression (different parameters)',
  'x.12': 'Beyond Autobahn (compressed frames)',
  'x.13': 'Beyond Autobahn (negotiation)',
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
  const options = { compressThreshold: target.compressThreshold };
  return runAll(cases, concurrency, (c) => runCaseAgainstServer(c, target.url, timing, options));
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
      const { url, result } = server.expect(c, target.name, { compressThreshold: target.compressThreshold });
      const outcome = await target.run(url);
      if (outcome.code === null) server.abandon(url, `client did not connect: ${outcome.error}`);
      return result;
    });
  } finally {
    await server.close();
  }
}

const LABEL = 48;
const width = (column: string) => Math.max(12, column.length + 1);

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
  console.log(
    `${'section'.padEnd(LABEL)}${columns.map((c) => c.padStart(width(c))).join('')}${'strict'.padStart(9)}`,
  );
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
      `${label.padEnd(LABEL)}${columns.map((c) => String(counts.get(c) ?? 0).padStart(width(c))).join('')}${String(strict).padStart(9)}`,
    );
  }
  console.log(
    `${`total (${results.length})`.padEnd(LABEL)}${columns.map((c) => String(totals.get(c) ?? 0).padStart(width(c))).join('')}${String(strictTotal).padStart(9)}`,
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
  const targets = argument('target', 'conduit,conduit-dedicated,ws').split(',');
  const sides = argument('side', 'both');
  const sections = argument('sections', '1,2,3,4,5,6,7,9,x,12,13,x.12,x.13').split(',');
  const concurrency = Number(argument('concurrency', '16'));
  const timing: Timing = {
    ...DEFAULT_TIMING,
    second: Number(argument('second', String(DEFAULT_TIMING.second))),
  };
  const verbose = process.argv.includes('--verbose');
  const cases = casesIn(sections);
  const plain = cases.filter((c) => !isDeflateSection(sectionOf(c.id)));
  const deflate = cases.filter((c) => isDeflateSection(sectionOf(c.id)));
  const forSide = (list: readonly ConformanceCase[], side: 'server' | 'client') =>
    list.filter((c) => c.side === undefined || c.side === side);
  let allOk = true;
  const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);
  for (const name of targets) {
    const servers = SERVERS[name];
    const clients = CLIENTS[name];
    if (servers === undefined && clients === undefined) throw new Error(`unknown target ${name}`);
    if ((sides === 'server' || sides === 'both') && servers !== undefined) {
      const started = Date.now();
      const results: CaseResult[] = [];
      for (const [start, list] of [
        [servers.plain, plain],
        [servers.deflate, deflate],
      ] as const) {
        const mine = forSide(list, 'server');
        if (start === undefined || mine.length === 0) continue;
        const target = await start();
        results.push(...(await runServerSide(target, mine, concurrency, timing)));
        await target.close();
      }
      if (results.length > 0)
        allOk = printReport(`${name} server at /echo (${seconds(started)} s)`, results, verbose) && allOk;
    }
    if ((sides === 'client' || sides === 'both') && clients !== undefined) {
      const started = Date.now();
      const results: CaseResult[] = [];
      for (const [client, list] of [
        [clients.plain, plain],
        [clients.deflate, deflate],
      ] as const) {
        const mine = forSide(list, 'client');
        if (client === undefined || mine.length === 0) continue;
        results.push(...(await runClientSide(client, mine, concurrency, timing)));
      }
      if (results.length > 0)
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
