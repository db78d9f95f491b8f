/**
 * broadcast1k and broadcast10k: one 64-byte binary message broadcast to 1,000 or 10,000 clients, as
 * fast as the server can with a bounded backlog (servers/pacing.ts, the same loop for every server).
 * The figure is deliveries/s: messages received by all clients together per second, counted by the
 * load generator (load/broadcast.ts), a separate process holding every client connection.
 *
 * Per measurement: fork the server with the client count, fork the generator, which connects every
 * client (the server starts broadcasting once they are all there), warms up and counts over a window;
 * the server's CPU and pacing counters are sampled when the window opens and once it closes.
 */
import type { CpuSample, ServerKind, ServerMessage } from '../protocol.js';
import { cpuFraction } from '../protocol.js';
import { formatNumber, formatPercent, formatRatio, markdownTable, median } from '../stats.js';
import { forkChild, Mailbox, stopChild } from './children.js';
import type {
  BroadcastLoadMessage,
  BroadcastLoadPlan,
  BroadcastServerPlan,
  PacingStats,
  ServerPacing,
} from './ipc.js';
import {
  errorText,
  figureColumns,
  LABELS,
  mediansBy,
  profileArgs,
  rotation,
  type ScaleOptions,
  type ScaleOutcome,
  type ScaleScenario,
} from './scale.js';

interface BroadcastSpec {
  name: string;
  title: string;
  clients: number;
  /**
   * Broadcasts per event-loop turn (pacing.ts), the same in both scenarios, so that every client gets
   * the same burst of frames per turn and only the number of clients differs. A library that coalesces
   * the writes of one turn (Conduit's broadcast, the raw-TCP ceiling) sends each client one writev per
   * turn; one that does not (ws) makes one per message. `--broadcast-batch 1` shows the case without
   * anything to coalesce.
   */
  perBatch: number;
}

const SERVER_FILES: Record<ServerKind, string> = {
  conduit: 'servers/conduit-broadcast.js',
  ws: 'servers/ws-broadcast.js',
  tcp: 'servers/tcp-broadcast.js',
};

/** Opening handshakes in flight while the generator connects its clients. */
const CONNECT_CONCURRENCY = 200;
/** Load-generator CPU (fraction of a core) above which a figure may be the generator's limit. */
const GENERATOR_BOUND = 0.9;
/** Target of the issue: Conduit's deliveries/s over ws's. */
const TARGET = 3;

interface BroadcastMeasurement {
  scenario: string;
  server: ServerKind;
  run: number;
  deliveriesPerSecond: number;
  serverCpu: number;
  loadCpu: number;
  /** Share of the window the server's loop spent waiting for backlogs to drain. */
  waiting: number;
  /** Deliveries the server queued per second (broadcasts x clients), for comparison. */
  queuedPerSecond: number;
  minPerClient: number;
  connectSeconds: number;
}

type ServerMail = ServerMessage | ServerPacing;

async function sample(server: Mailbox<ServerMail>): Promise<{ cpu: CpuSample; pacing: PacingStats }> {
  server.send({ type: 'cpu' });
  server.send({ type: 'pacing' });
  // A server answers between two batches: 16 broadcasts to 10,000 clients can take seconds.
  const cpu = await server.next('cpu', 30_000);
  const pacing = await server.next('pacing', 30_000);
  return { cpu: cpu.sample, pacing: pacing.stats };
}

async function measure(
  spec: BroadcastSpec,
  kind: ServerKind,
  run: number,
  options: ScaleOptions,
  infos: Map<ServerKind, string>,
): Promise<BroadcastMeasurement> {
  const windowMs = options.warmupMs + options.durationMs;
  const serverPlan: BroadcastServerPlan = {
    clients: spec.clients,
    perBatch: options.broadcastBatch ?? spec.perBatch,
  };
  const server = forkChild(
    SERVER_FILES[kind],
    [String(windowMs + 120_000), JSON.stringify(serverPlan)],
    profileArgs(kind, spec.name, run, options.cpuProfDir),
  );
  const serverMail = new Mailbox<ServerMail>(server, `the ${kind} server`);
  let load: ReturnType<typeof forkChild> | null = null;
  try {
    const ready = await serverMail.next('ready', 10_000);
    infos.set(kind, ready.info);
    const plan: BroadcastLoadPlan = {
      port: ready.port,
      path: '/broadcast',
      clients: spec.clients,
      concurrency: CONNECT_CONCURRENCY,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
    };
    load = forkChild('load/broadcast.js', [JSON.stringify(plan)]);
    const loadMail = new Mailbox<BroadcastLoadMessage>(load, 'the load generator');
    await loadMail.next('measuring', 60_000 + options.warmupMs);
    const before = await sample(serverMail);
    const result = await loadMail.next('result', options.durationMs + 30_000);
    const after = await sample(serverMail);
    const wallMs = (after.cpu.at - before.cpu.at) / 1000;
    const broadcasts = after.pacing.broadcasts - before.pacing.broadcasts;
    return {
      scenario: spec.name,
      server: kind,
      run: run + 1,
      deliveriesPerSecond: result.messages / result.seconds,
      serverCpu: cpuFraction(before.cpu, after.cpu),
      loadCpu: result.cpu,
      waiting: (after.pacing.waitedMs - before.pacing.waitedMs) / wallMs,
      queuedPerSecond: (broadcasts * spec.clients) / (wallMs / 1000),
      minPerClient: result.minPerClient,
      connectSeconds: result.connectSeconds,
    };
  } finally {
    if (load !== null && load.exitCode === null) load.kill('SIGKILL');
    await stopChild(server);
  }
}

function report(
  spec: BroadcastSpec,
  perBatch: number,
  measurements: BroadcastMeasurement[],
  servers: ServerKind[],
): string {
  const medians = mediansBy(measurements, servers, (m) => m.deliveriesPerSecond);
  const of = (kind: ServerKind) => measurements.filter((m) => m.server === kind);
  const rows = servers.map((kind) => {
    const runs = of(kind);
    const loadCpu = median(runs.map((m) => m.loadCpu));
    return [
      LABELS[kind],
      ...figureColumns(
        kind,
        runs.map((m) => m.deliveriesPerSecond),
        medians,
      ),
      formatNumber(median(runs.map((m) => m.deliveriesPerSecond / m.serverCpu))),
      formatPercent(median(runs.map((m) => m.serverCpu))),
      formatPercent(loadCpu) + (loadCpu >= GENERATOR_BOUND ? ' (!)' : ''),
      formatPercent(median(runs.map((m) => m.waiting))),
      String(runs.length),
    ];
  });
  const lines = [
    `### ${spec.title}, ${perBatch} broadcast${perBatch === 1 ? '' : 's'} per event-loop turn`,
    '',
    markdownTable(
      [
        'server',
        'median deliveries/s',
        'min - max',
        'vs ws',
        'of raw TCP',
        'deliveries/s per server core',
        'server CPU',
        'load-gen CPU',
        'waiting on backlog',
        'runs',
      ],
      rows,
    ),
    '',
    'Deliveries/s: 64-byte messages received by all clients together per second. "Waiting on backlog": ' +
      'share of the window the server spent waiting for a client backlog to drain (over 256 KiB for ' +
      'one client or 16 MiB in all); a high share means the clients, not the server, set the pace.',
    '',
  ];
  if (rows.some((row) => row[7]!.endsWith('(!)'))) {
    lines.push('(!) the load generator was near one full core: that figure may be its limit.', '');
  }
  const conduit = medians.get('conduit');
  const ws = medians.get('ws');
  if (conduit !== undefined && ws !== undefined && Number.isFinite(conduit / ws)) {
    const perCore = (kind: ServerKind) => median(of(kind).map((m) => m.deliveriesPerSecond / m.serverCpu));
    const verdict = conduit / ws >= TARGET ? 'meets' : 'misses';
    lines.push(
      `Conduit / ws = **${formatRatio(conduit / ws)}** (per server core: ` +
        `${formatRatio(perCore('conduit') / perCore('ws'))}); target >= ${TARGET}x: ${verdict} it.`,
      '',
    );
  }
  return lines.join('\n');
}

function scenario(spec: BroadcastSpec): ScaleScenario {
  return {
    name: spec.name,
    async run(options: ScaleOptions): Promise<ScaleOutcome> {
      const measurements: BroadcastMeasurement[] = [];
      const infos = new Map<ServerKind, string>();
      let failures = 0;
      for (let run = 0; run < options.runs; run++) {
        for (const kind of rotation(options.servers, run)) {
          const label = `[${spec.name} ${run + 1}/${options.runs}] ${kind.padEnd(7)}`;
          try {
            const m = await measure(spec, kind, run, options, infos);
            measurements.push(m);
            console.log(
              `${label} ${formatNumber(m.deliveriesPerSecond).padStart(10)} deliveries/s` +
                `  (server CPU ${formatPercent(m.serverCpu)}, load-gen CPU ${formatPercent(m.loadCpu)}, ` +
                `waiting ${formatPercent(m.waiting)}, queued ${formatNumber(m.queuedPerSecond)}/s, ` +
                `min per client ${formatNumber(m.minPerClient)}, connected in ${m.connectSeconds.toFixed(1)} s)`,
            );
          } catch (error) {
            failures++;
            console.log(`${label} FAILED: ${errorText(error)}`);
          }
        }
      }
      const perBatch = options.broadcastBatch ?? spec.perBatch;
      return { report: report(spec, perBatch, measurements, options.servers), failures, measurements, infos };
    },
  };
}

export const BROADCAST_SCENARIOS: readonly ScaleScenario[] = [
  scenario({
    name: 'broadcast1k',
    title: 'Broadcast of a 64-byte binary message to 1,000 clients',
    clients: 1000,
    perBatch: 16,
  }),
  scenario({
    name: 'broadcast10k',
    title: 'Broadcast of a 64-byte binary message to 10,000 clients',
    clients: 10_000,
    perBatch: 16,
  }),
];
