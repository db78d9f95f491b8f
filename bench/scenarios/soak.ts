/**
 * Scenario `soak` (run only on request: `--scenario soak`): `--soak-seconds` (default 300) of
 * connections opening and closing with compressed traffic, while the server's memory is sampled.
 *
 * 200 connections at all times; each negotiates permessage-deflate, echoes 20-40 compressed 4 KiB
 * text messages (2 in flight), then closes: 80% with a clean closing handshake, 10% with a bare TCP
 * close after their echoes, 10% destroyed mid-traffic with messages in flight. Each one is replaced at
 * once (load/soak-generator.js). The server (run with --expose-gc, which changes nothing unless gc()
 * is called) reports process.memoryUsage() every 10 s (5 s for soaks under 2 minutes); the verdict is
 * whether RSS after the warm-up stays within 10% (max / min of the samples from 60 s on). A last
 * sample, after the load has gone and a forced GC, shows what the server still holds.
 */
import type {
  MemorySample,
  ServerMemory,
  SoakCounts,
  SoakLoadMessage,
  SoakPlan,
} from '../deflate-protocol.js';
import { ask, forkChild, kill, startServer, stopServer, waitFor } from './processes.js';
import { type SoakRun, type SoakSample, soakReport } from './soak-report.js';

export type SoakServer = 'shared' | 'dedicated' | 'ws';
export const SOAK_SERVERS: readonly SoakServer[] = ['shared', 'dedicated', 'ws'];

const SPECS: Record<SoakServer, { file: string; args: readonly string[] }> = {
  shared: { file: 'servers/conduit-deflate.js', args: ['shared'] },
  dedicated: { file: 'servers/conduit-deflate.js', args: ['dedicated'] },
  ws: { file: 'servers/ws-deflate.js', args: [] },
};

const LOAD = {
  concurrency: 200,
  messagesMin: 20,
  messagesMax: 40,
  inFlight: 2,
  abruptAfterShare: 0.1,
  abruptMidShare: 0.1,
  progressEveryMs: 1000,
} as const;

/** Seconds of quiet after the load before the last (post-GC) sample. */
const SETTLE_MS = 3000;

export interface SoakOptions {
  soakMs: number;
  soakServers: readonly SoakServer[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function soakOne(server: SoakServer, options: SoakOptions): Promise<SoakRun> {
  const spec = SPECS[server];
  const sampleEveryMs = options.soakMs >= 120_000 ? 10_000 : 5000;
  const warmupMs = Math.min(60_000, options.soakMs / 5);
  const started = await startServer(spec.file, options.soakMs + 90_000, spec.args, ['--expose-gc']);
  const samples: SoakSample[] = [];
  let latest: SoakCounts | null = null;
  let loadStart = 0;
  const memory = async (gc = false): Promise<MemorySample> =>
    (await ask<ServerMemory>(started.child, { type: 'memory', gc }, 'memory', 10_000)).sample;
  const take = async (label: SoakSample['label']): Promise<void> => {
    const at = loadStart === 0 ? 0 : (performance.now() - loadStart) / 1000;
    const counts = latest;
    samples.push({ t: at, label, memory: await memory(label === 'after'), counts });
  };
  try {
    await take('before');
    const plan: SoakPlan = { port: started.port, path: '/echo', durationMs: options.soakMs, ...LOAD };
    const generator = forkChild('load/soak-generator.js', [JSON.stringify(plan)]);
    loadStart = performance.now();
    const sampler = setInterval(() => void take('load').catch(() => undefined), sampleEveryMs);
    let done: SoakCounts;
    try {
      done = await waitFor<SoakCounts>('the soak load generator', options.soakMs + 40_000, (ok, ko) => {
        generator.on('message', (raw: unknown) => {
          const message = raw as SoakLoadMessage;
          if (message.type === 'progress') latest = message;
          else if (message.type === 'done') ok(message);
          else ko(new Error(`soak generator: ${message.message}`));
        });
        generator.once('exit', (code) =>
          ko(new Error(`the soak generator exited (code ${code}) without a result`)),
        );
        started.child.once('exit', (code) =>
          ko(new Error(`the server exited during the soak (code ${code})`)),
        );
      });
    } finally {
      clearInterval(sampler);
      kill(generator);
    }
    latest = done;
    await take('end');
    await sleep(SETTLE_MS);
    await take('after');
    samples.sort((a, b) => a.t - b.t);
    return { server, info: started.info, warmupMs, sampleEveryMs, samples, totals: done };
  } finally {
    await stopServer(started.child);
  }
}

export interface SoakResult {
  failures: number;
  report: string;
}

/** Soak each server of `options.soakServers` in turn, one after the other. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const runs: SoakRun[] = [];
  let failures = 0;
  for (const server of options.soakServers) {
    console.log(
      `[soak] ${server}: ${options.soakMs / 1000} s, ${LOAD.concurrency} connections at a time ...`,
    );
    try {
      const run = await soakOne(server, options);
      runs.push(run);
      const t = run.totals;
      console.log(
        `[soak] ${server}: ${t.opened} connections (${t.cleanCloses} clean, ${t.abruptCloses} abrupt, ` +
          `${t.errors} errors), ${t.messages} echoes`,
      );
    } catch (error) {
      failures++;
      console.log(`[soak] ${server} FAILED: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const describe =
    `The load generator keeps ${LOAD.concurrency} connections open or opening at all times, each echoing ${LOAD.messagesMin}-${LOAD.messagesMax} ` +
    `compressed 4 KiB text messages (${LOAD.inFlight} in flight), then closing: ` +
    `${Math.round((1 - LOAD.abruptAfterShare - LOAD.abruptMidShare) * 100)}% closing handshake, ` +
    `${Math.round(LOAD.abruptAfterShare * 100)}% bare TCP close after the echoes, ` +
    `${Math.round(LOAD.abruptMidShare * 100)}% destroyed mid-traffic; each replaced at once. ` +
    "'server conns' is what the server holds: when its event loop is busy, new connections wait in " +
    'the accept queue (Node accepts one connection per event-loop turn), which shows as handshake ms';
  return { failures, report: soakReport(runs, options.soakMs, describe) };
}
