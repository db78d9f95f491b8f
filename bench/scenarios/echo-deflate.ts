/**
 * Scenario `echodeflate`: echo of 4 KiB JSON-like text messages with permessage-deflate (RFC 7692).
 *
 * 50 connections x 4 messages in flight. Why: 200 messages outstanding keep a server that spends tens
 * of microseconds per message (inflate + deflate of 4 KiB) busy without a gap, yet each read carries
 * only a few frames, as with many moderately chatty clients (dashboards, chat, trading feeds) rather
 * than the deep pipelines of echo64 (16 in flight), where batching per read dominates. It also leaves
 * ws's zlib queue (10 operations at once) a realistic amount of concurrent work.
 *
 * Rows: Conduit in its two memory modes ('shared': no context takeover, and 'dedicated': context
 * takeover like ws), ws with `perMessageDeflate: true`, and the raw-TCP echo moving the very same
 * compressed frames (the ceiling; it does no zlib work at all). Every measurement forks a fresh server
 * and a fresh load generator (load/deflate-generator.js); servers rotate from run to run.
 */
import { mkdirSync } from 'node:fs';
import type { DeflateLoadMessage, DeflateLoadPlan } from '../deflate-protocol.js';
import { type CpuSample, cpuFraction, type LoadResult, type ServerKind } from '../protocol.js';
import { formatNumber, formatPercent } from '../stats.js';
import { type DeflateMeasurement, echoDeflateReport } from './echo-deflate-report.js';
import { ask, forkChild, kill, startServer, stopServer, waitFor } from './processes.js';

export const ECHO_DEFLATE = {
  name: 'echodeflate',
  title: 'Echo of 4 KiB JSON text messages with permessage-deflate, 50 connections x 4 in flight',
  connections: 50,
  inFlight: 4,
  /** Echoes inflated and compared per connection before the load starts. */
  probeMessages: 3,
} as const;

export type DeflateServer = 'conduit-shared' | 'conduit-dedicated' | 'ws' | 'tcp';

interface ServerSpec {
  file: string;
  args: readonly string[];
  protocol: 'ws' | 'tcp';
}

const SPECS: Record<DeflateServer, ServerSpec> = {
  'conduit-shared': { file: 'servers/conduit-deflate.js', args: ['shared'], protocol: 'ws' },
  'conduit-dedicated': { file: 'servers/conduit-deflate.js', args: ['dedicated'], protocol: 'ws' },
  ws: { file: 'servers/ws-deflate.js', args: [], protocol: 'ws' },
  tcp: { file: 'servers/tcp-echo.js', args: [], protocol: 'tcp' },
};

/** The rows for run.ts's --servers list: 'conduit' stands for both Conduit modes. */
export function deflateServers(kinds: readonly ServerKind[]): DeflateServer[] {
  return kinds.flatMap((k): DeflateServer[] =>
    k === 'conduit' ? ['conduit-shared', 'conduit-dedicated'] : [k],
  );
}

export interface EchoDeflateOptions {
  runs: number;
  durationMs: number;
  warmupMs: number;
  servers: readonly ServerKind[];
  cpuProfDir: string | null;
}

async function measure(
  server: DeflateServer,
  run: number,
  options: EchoDeflateOptions,
): Promise<DeflateMeasurement> {
  const spec = SPECS[server];
  const execArgv: string[] = [];
  if (server.startsWith('conduit') && options.cpuProfDir !== null) {
    mkdirSync(options.cpuProfDir, { recursive: true });
    execArgv.push(
      '--cpu-prof',
      `--cpu-prof-dir=${options.cpuProfDir}`,
      `--cpu-prof-name=${server}-${ECHO_DEFLATE.name}-run${run + 1}-${process.pid}.cpuprofile`,
    );
  }
  const lifetime = options.warmupMs + options.durationMs + 60_000;
  const started = await startServer(spec.file, lifetime, spec.args, execArgv);
  const plan: DeflateLoadPlan = {
    port: started.port,
    protocol: spec.protocol,
    path: '/echo',
    connections: ECHO_DEFLATE.connections,
    inFlight: ECHO_DEFLATE.inFlight,
    probeMessages: ECHO_DEFLATE.probeMessages,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
  };
  const generator = forkChild('load/deflate-generator.js', [JSON.stringify(plan)]);
  try {
    let extensions = spec.protocol === 'tcp' ? '(none: bare TCP)' : 'not reported';
    let cpuStart: Promise<CpuSample | null> = Promise.resolve(null);
    const askCpu = (): Promise<CpuSample | null> =>
      ask<{ type: 'cpu'; sample: CpuSample }>(started.child, { type: 'cpu' }, 'cpu').then(
        (m) => m.sample,
        () => null,
      );
    const result = await waitFor<LoadResult>(
      'the load generator',
      options.warmupMs + options.durationMs + 40_000,
      (ok, ko) => {
        generator.on('message', (raw: unknown) => {
          const message = raw as DeflateLoadMessage;
          if (message.type === 'negotiated') extensions = message.extensions;
          else if (message.type === 'measuring') cpuStart = askCpu();
          else if (message.type === 'result') ok(message);
          else ko(new Error(`load generator: ${message.message}`));
        });
        generator.once('exit', (code) =>
          ko(new Error(`the load generator exited (code ${code}) without a result`)),
        );
        started.child.once('exit', (code) =>
          ko(new Error(`the server exited during the run (code ${code})`)),
        );
      },
    );
    const [from, to] = await Promise.all([cpuStart, askCpu()]);
    return {
      server,
      run: run + 1,
      messagesPerSecond: result.messages / result.seconds,
      echoBytesPerMessage: result.messages > 0 ? result.payloadBytes / result.messages : Number.NaN,
      serverCpu: from !== null && to !== null ? cpuFraction(from, to) : Number.NaN,
      loadCpu: result.cpu,
      info: started.info,
      extensions,
    };
  } finally {
    kill(generator);
    await stopServer(started.child);
  }
}

export interface EchoDeflateResult {
  measurements: DeflateMeasurement[];
  failures: number;
  report: string;
}

/** Run the scenario `options.runs` times per server, printing one line per measurement. */
export async function runEchoDeflate(options: EchoDeflateOptions): Promise<EchoDeflateResult> {
  const servers = deflateServers(options.servers);
  const measurements: DeflateMeasurement[] = [];
  let failures = 0;
  for (let run = 0; run < options.runs; run++) {
    // Rotate the order so no server always runs first (or right after another one).
    const order = servers.map((_, i) => servers[(i + run) % servers.length]!);
    for (const server of order) {
      const label = `[${ECHO_DEFLATE.name} ${run + 1}/${options.runs}] ${server.padEnd(17)}`;
      try {
        const m = await measure(server, run, options);
        measurements.push(m);
        console.log(
          `${label} ${formatNumber(m.messagesPerSecond).padStart(10)} msg/s` +
            `  (server CPU ${formatPercent(m.serverCpu)}, load-gen CPU ${formatPercent(m.loadCpu)}, ` +
            `${formatNumber(m.echoBytesPerMessage)} B/echo)`,
        );
      } catch (error) {
        failures++;
        console.log(`${label} FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return { measurements, failures, report: echoDeflateReport(ECHO_DEFLATE.title, servers, measurements) };
}
