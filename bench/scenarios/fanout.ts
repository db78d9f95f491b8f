/**
 * ssefanout1k and ssefanout5k: one publisher (inside the server process, servers/fanout-publisher.ts)
 * sends 64-character text events to 1,000 or 5,000 subscribers held by the load generator
 * (load/fanout.ts). Each is measured over SSE on HTTP/1.1 and over SSE on HTTP/2 (cleartext, one
 * connection per subscriber as separate browsers would have), for Conduit and better-sse, and over
 * WebSocket for Conduit: the one-way comparison the transport guide quotes.
 *
 * The figure is the delivered events/s at a latency bound, the issue's "events/s at equal latency":
 * with every subscriber connected, the publisher runs at fixed rates, each stamped event due at its
 * time, from 25,000 deliveries/s up by x1.5 a step (0.5 s to settle, 1.5 s measured) until a step
 * misses: p99 latency over the bound or less than 97% of the offered (or all but one per subscriber)
 * events delivered. A miss is measured once more before it counts (one noisy window does not end the
 * climb); then two more steps between the last pass and the miss narrow it down (to about 11%). The
 * server's and the load generator's CPU are those of the best passing step.
 *
 * The bound grows with the number of subscribers (--fanout-slo-ms per 1,000, default 100: 100 ms for
 * 1,000, 500 ms for 5,000): one event has to reach every subscriber, and on two cores the load
 * generator alone takes ~10 us per read, the server ~20-30 us per HTTP/2 connection and turn, so
 * 5,000 subscribers need tens of ms (HTTP/1.1) to ~200 ms (HTTP/2) for one event even at the lowest
 * rate.
 */
import { cpuFraction } from '../protocol.js';
import { formatNumber, formatPercent, formatRatio, markdownTable, median } from '../stats.js';
import { forkChild, Mailbox, stopChild } from './children.js';
import type {
  FanoutLoadMessage,
  FanoutLoadPlan,
  FanoutMode,
  FanoutPublisherStats,
  FanoutServerKind,
  FanoutServerMessage,
  FanoutServerPlan,
  FanoutTransport,
  FanoutWindow,
} from './fanout-ipc.js';
import type { IdleMemory, ServerIdleMemory } from './ipc.js';
import { errorText, type ScaleOptions, type ScaleOutcome, type ScaleScenario } from './scale.js';

const SERVER_FILES: Record<FanoutServerKind, string> = {
  conduit: 'servers/conduit-fanout.js',
  'better-sse': 'servers/better-sse-fanout.js',
  'socket.io': 'servers/socketio-fanout.js',
};

export const LABELS: Record<FanoutServerKind, string> = {
  conduit: 'Conduit',
  'better-sse': 'better-sse',
  'socket.io': 'Socket.IO',
};
export const TRANSPORT_LABELS: Record<FanoutTransport, string> = {
  'sse-h1': 'SSE, HTTP/1.1',
  'sse-h2': 'SSE, HTTP/2',
  ws: 'WebSocket',
  hub: 'WebSocket, hub channel',
  'socket.io': 'WebSocket, Socket.IO room',
};

/** What each run measures, in this order (rotated from run to run). */
const VARIANTS: readonly { server: FanoutServerKind; transport: FanoutTransport }[] = [
  { server: 'conduit', transport: 'sse-h1' },
  { server: 'better-sse', transport: 'sse-h1' },
  { server: 'conduit', transport: 'sse-h2' },
  { server: 'better-sse', transport: 'sse-h2' },
  { server: 'conduit', transport: 'ws' },
];

const CONNECT_CONCURRENCY = 200;
/** Subscribers whose every event is timed. */
const SAMPLED = 50;
/** Deliveries/s (events/s x subscribers) of the first step, and the factor from one step to the next. */
export const FIRST_RATE = 25_000;
const STEP_FACTOR = 1.5;
const MAX_STEPS = 16;
/** Steps between the last pass and the miss, each halving the gap (geometrically). */
const NARROWING_STEPS = 2;
const SETTLE_MS = 500;
const STEP_MS = 1500;
/**
 * A step counts only if this share of the offered events arrived in its window, give or take
 * EVENTS_SLACK events per subscriber (at 5 events/s a 1.5 s window holds 7 or 8 of them).
 */
const DELIVERED_SHARE = 0.97;
const EVENTS_SLACK = 1;
export const GENERATOR_BOUND = 0.9;
/** Target of the issue: Conduit's sustained events/s over better-sse's, at the same p99 bound. */
const TARGET = 1.5;

export interface Step {
  /** Deliveries/s offered: events/s x subscribers. */
  offered: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
  serverCpu: number;
  loadCpu: number;
  /** Share of the window the publisher waited for backlogs to drain. */
  waiting: number;
  minPerClient: number;
  passed: boolean;
}

/** A server's memory with every subscriber connected and idle, less before any, per subscriber. */
export interface IdlePerSubscriber {
  rssBytes: number;
  /** V8 heap plus external memory (Buffers): what the library allocates, without the allocator's slack. */
  heapBytes: number;
}

export interface FanoutMeasurement {
  scenario: string;
  server: FanoutServerKind;
  transport: FanoutTransport;
  run: number;
  connectSeconds: number;
  /** The best passing step, or null when none passed. */
  best: Step | null;
  /** The first step (FIRST_RATE): latency at a light load, one event at a time. */
  light: Step;
  steps: Step[];
  /** Measured when asked (the server runs with --expose-gc). */
  idle: IdlePerSubscriber | null;
}

/** The p99 bound of a scenario, ms. */
export function sloFor(clients: number, options: ScaleOptions): number {
  return (options.fanoutSloMs * clients) / 1000;
}

type ServerMail = FanoutServerMessage | ServerIdleMemory | { type: 'ready'; port: number; info: string };

/** Settle time of an idle-memory reading (servers/idle-memory.ts: gc, rest, gc, read). */
const IDLE_SETTLE_MS = 4000;

async function idleMemory(server: Mailbox<ServerMail>): Promise<IdleMemory> {
  server.send({ type: 'idle-memory', settleMs: IDLE_SETTLE_MS });
  return (await server.next('idle-memory', IDLE_SETTLE_MS + 30_000)).memory;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function setMode(server: Mailbox<ServerMail>, mode: FanoutMode): Promise<void> {
  server.send({ type: 'fanout-mode', mode });
  await server.next('fanout-mode-set', 30_000);
}

async function stats(server: Mailbox<ServerMail>): Promise<FanoutPublisherStats> {
  server.send({ type: 'fanout-stats' });
  return (await server.next('fanout-stats', 30_000)).stats;
}

async function window(load: Mailbox<FanoutLoadMessage>, ms: number): Promise<FanoutWindow> {
  load.send({ type: 'fanout-window', ms });
  return load.next('fanout-window', ms + 30_000);
}

/** What a measurement may add to the plain one-server fan-out. */
export interface MeasureExtras {
  /** Measure the server's idle memory per subscriber first (one node only). */
  idleMemory?: boolean;
  /**
   * Cross-node: this many server processes sharing this Redis (key prefix per measurement); the
   * subscribers are spread over them round-robin and only the first one publishes.
   */
  cluster?: { nodes: number; redisUrl: string; prefix: string };
}

export async function measure(
  clients: number,
  name: string,
  variant: { server: FanoutServerKind; transport: FanoutTransport },
  run: number,
  options: ScaleOptions,
  infos: Map<string, string>,
  extras: MeasureExtras = {},
): Promise<FanoutMeasurement> {
  const lifetime = 180_000 + (2 * MAX_STEPS + NARROWING_STEPS) * (SETTLE_MS + STEP_MS + 1000);
  const cluster = extras.cluster;
  const plan: FanoutServerPlan = {
    transport: variant.transport,
    clients,
    ...(cluster === undefined ? {} : { redis: { url: cluster.redisUrl, prefix: cluster.prefix } }),
  };
  const profile = (node: number) =>
    variant.server === 'conduit' && options.cpuProfDir !== null
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${options.cpuProfDir}`,
          `--cpu-prof-name=conduit-${name}-${variant.transport}-run${run + 1}-node${node + 1}-${process.pid}.cpuprofile`,
        ]
      : [];
  const withIdleMemory = extras.idleMemory === true && cluster === undefined;
  const servers = Array.from({ length: cluster?.nodes ?? 1 }, (_, node) =>
    forkChild(
      SERVER_FILES[variant.server],
      [String(lifetime), JSON.stringify(plan)],
      withIdleMemory ? ['--expose-gc', ...profile(node)] : profile(node),
    ),
  );
  const mails = servers.map(
    (server, node) =>
      new Mailbox<ServerMail>(
        server,
        `the ${variant.server} server${servers.length > 1 ? ` (node ${node + 1})` : ''}`,
      ),
  );
  /** The node that publishes (the only one with a rate set). */
  const serverMail = mails[0]!;
  let load: ReturnType<typeof forkChild> | null = null;
  try {
    const ports: number[] = [];
    for (const mail of mails) {
      const ready = await mail.next('ready', 10_000);
      ports.push(ready.port);
      infos.set(`${variant.server}, ${TRANSPORT_LABELS[variant.transport]}`, ready.info);
    }
    const baseline = withIdleMemory ? await idleMemory(serverMail) : null;
    const loadPlan: FanoutLoadPlan = {
      port: ports[0]!,
      ...(ports.length > 1 ? { ports } : {}),
      transport: variant.transport,
      clients,
      concurrency: CONNECT_CONCURRENCY,
      sampled: SAMPLED,
      lifetimeMs: lifetime,
    };
    load = forkChild('load/fanout.js', [JSON.stringify(loadPlan)]);
    const loadMail = new Mailbox<FanoutLoadMessage>(load, 'the load generator');
    const connected = await loadMail.next('fanout-connected', 120_000);
    let idle: IdlePerSubscriber | null = null;
    if (baseline !== null) {
      const loaded = await idleMemory(serverMail);
      if (loaded.connections !== clients)
        throw new Error(`${loaded.connections} of ${clients} subscribers held`);
      idle = {
        rssBytes: (loaded.rss - baseline.rss) / clients,
        heapBytes: (loaded.heapUsed + loaded.external - baseline.heapUsed - baseline.external) / clients,
      };
    }
    const slo = sloFor(clients, options);
    const probe = async (offered: number): Promise<Step> => {
      await setMode(serverMail, { kind: 'rate', eventsPerSecond: offered / clients });
      await sleep(SETTLE_MS);
      const before = await Promise.all(mails.map(stats));
      const w = await window(loadMail, STEP_MS);
      const after = await Promise.all(mails.map(stats));
      const delivered = w.deliveries / w.seconds;
      const step: Step = {
        offered,
        delivered,
        p50Ms: w.p50Ms,
        p99Ms: w.p99Ms,
        // Every node's CPU together (a fraction of one core each).
        serverCpu: before.reduce((sum, b, i) => sum + cpuFraction(b.cpu, after[i]!.cpu), 0),
        loadCpu: w.cpu,
        waiting: (after[0]!.waitedMs - before[0]!.waitedMs) / ((after[0]!.cpu.at - before[0]!.cpu.at) / 1000),
        minPerClient: w.minPerClient,
        passed:
          w.p99Ms <= slo &&
          w.deliveries >=
            Math.min(DELIVERED_SHARE * offered, offered - (EVENTS_SLACK * clients) / w.seconds) * w.seconds,
      };
      taken.push(step);
      return step;
    };
    const taken: Step[] = [];
    let pass = 0;
    let miss = 0;
    for (let i = 0, offered = FIRST_RATE; i < MAX_STEPS; i++, offered *= STEP_FACTOR) {
      if ((await probe(offered)).passed || (await probe(offered)).passed) {
        pass = offered;
        continue;
      }
      miss = offered;
      break;
    }
    for (let i = 0; i < NARROWING_STEPS && pass > 0 && miss > 0; i++) {
      const between = Math.sqrt(pass * miss);
      if ((await probe(between)).passed) pass = between;
      else miss = between;
    }
    await setMode(serverMail, { kind: 'idle' });
    const passing = taken.filter((step) => step.passed);
    const best = passing.length === 0 ? null : passing.reduce((a, b) => (b.delivered > a.delivered ? b : a));
    return {
      scenario: name,
      server: variant.server,
      transport: variant.transport,
      run: run + 1,
      connectSeconds: connected.seconds,
      best,
      light: taken[0]!,
      steps: taken,
      idle,
    };
  } finally {
    // The load generator goes first: a server stopping closes its connections (1001), which a load
    // generator still reading would take for a failure.
    if (load !== null) await stopChild(load);
    await Promise.all(servers.map(stopChild));
  }
}

export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : 'n/a';
}

type Variant = { server: FanoutServerKind; transport: FanoutTransport };

/**
 * The columns every fan-out report shares, for the runs of one server and transport: the sustained
 * figure (median, range), the latency and CPU of its best step, the latency at the light first step.
 * A run where no step passed counts 0 events/s and no latency. `atGeneratorBound`: the load generator
 * was near a full core there (the figure may be its limit).
 */
export function stepColumns(runs: readonly FanoutMeasurement[]): {
  cells: string[];
  atGeneratorBound: boolean;
} {
  const best = (pick: (step: Step) => number, none = Number.NaN) =>
    runs.map((m) => (m.best === null ? none : pick(m.best)));
  const values = best((step) => step.delivered, 0);
  const loadCpu = median(best((step) => step.loadCpu));
  const light = (pick: (step: Step) => number) => ms(median(runs.map((m) => pick(m.light))));
  const cells = [
    formatNumber(median(values)),
    values.length > 0 ? `${formatNumber(Math.min(...values))} - ${formatNumber(Math.max(...values))}` : 'n/a',
    ms(median(best((step) => step.p50Ms))),
    ms(median(best((step) => step.p99Ms))),
    `${light((step) => step.p50Ms)} / ${light((step) => step.p99Ms)}`,
    formatPercent(median(best((step) => step.serverCpu))),
    formatPercent(loadCpu) + (loadCpu >= GENERATOR_BOUND ? ' (!)' : ''),
  ];
  return { cells, atGeneratorBound: loadCpu >= GENERATOR_BOUND };
}

/** The headers of stepColumns' cells: `unit` delivered per second under the bound. */
export function stepHeader(unit: string, sloMs: number, serverCpu = 'server CPU'): string[] {
  return [
    `${unit}/s at p99 <= ${sloMs} ms`,
    'min - max',
    'p50 ms',
    'p99 ms',
    `p50 / p99 ms at ${formatNumber(FIRST_RATE)}/s`,
    serverCpu,
    'load-gen CPU',
  ];
}

export const GENERATOR_NOTE = '(!) the load generator was near one full core: that figure may be its limit.';

function report(title: string, measurements: FanoutMeasurement[], sloMs: number): string {
  const of = (v: Variant) => measurements.filter((m) => m.server === v.server && m.transport === v.transport);
  /** A figure of the best step of each run of `v` (0 events/s, or NaN, for a run where none passed). */
  const best = (v: Variant, pick: (step: Step) => number, none = Number.NaN) =>
    of(v).map((m) => (m.best === null ? none : pick(m.best)));
  const sustained = (v: Variant) => median(best(v, (step) => step.delivered, 0));
  let atGeneratorBound = false;
  const rows = VARIANTS.map((v) => {
    const shared = stepColumns(of(v));
    atGeneratorBound ||= shared.atGeneratorBound;
    return [
      `${LABELS[v.server]}, ${TRANSPORT_LABELS[v.transport]}`,
      ...shared.cells,
      formatPercent(median(best(v, (step) => step.waiting))),
      String(of(v).length),
    ];
  });
  const lines = [
    `### ${title}`,
    '',
    markdownTable(['server, transport', ...stepHeader('events', sloMs), 'waiting on backlog', 'runs'], rows),
    '',
    'Events/s: events received by all subscribers together per second (one event to N subscribers ' +
      `counts N), at the highest fixed publish rate whose p99 delivery latency stayed <= ${sloMs} ms ` +
      'with 97% of the events delivered (or all but one per subscriber); the other columns are of that step, but ' +
      `the latency at ${formatNumber(FIRST_RATE)} events/s (a light load: one event at a time). "Waiting on backlog": share ` +
      'of the time the publisher held back because a backlog was over its bound (256 KiB for one ' +
      'subscriber, 16 MiB for all).',
    '',
  ];
  if (atGeneratorBound) lines.push(GENERATOR_NOTE, '');
  for (const transport of ['sse-h1', 'sse-h2'] as const) {
    const ratio =
      sustained({ server: 'conduit', transport }) / sustained({ server: 'better-sse', transport });
    if (!Number.isFinite(ratio)) continue;
    lines.push(
      `${TRANSPORT_LABELS[transport]}: Conduit / better-sse = **${formatRatio(ratio)}** at p99 <= ${sloMs} ms ` +
        `(target >= ${TARGET}x: ${ratio >= TARGET ? 'met' : 'NOT met'}).`,
      '',
    );
  }
  const ws = sustained({ server: 'conduit', transport: 'ws' });
  if (Number.isFinite(ws) && ws > 0) {
    lines.push(
      'One-way delivery with Conduit, at the same latency bound: SSE on HTTP/1.1 ' +
        `${formatRatio(sustained({ server: 'conduit', transport: 'sse-h1' }) / ws)} of WebSocket, SSE on HTTP/2 ` +
        `${formatRatio(sustained({ server: 'conduit', transport: 'sse-h2' }) / ws)}. Not a property of the ` +
        'protocols alone: SSE channels join the events of one event-loop turn into one write per ' +
        "subscriber, while WebSocketServer.broadcast() writes each message's frame (corked: one system call " +
        'per client and turn, but one write call per message and client).',
      '',
    );
  }
  return lines.join('\n');
}

function scenario(name: string, clients: number): ScaleScenario {
  const title = `One publisher to ${formatNumber(clients)} subscribers, 64-character text events`;
  return {
    name,
    async run(options: ScaleOptions): Promise<ScaleOutcome> {
      const measurements: FanoutMeasurement[] = [];
      const infos = new Map<string, string>();
      let failures = 0;
      for (let run = 0; run < options.runs; run++) {
        const order = VARIANTS.map((_, i) => VARIANTS[(i + run) % VARIANTS.length]!);
        for (const variant of order) {
          const label = `[${name} ${run + 1}/${options.runs}] ${`${variant.server} ${variant.transport}`.padEnd(18)}`;
          try {
            const m = await measure(clients, name, variant, run, options, infos);
            measurements.push(m);
            const steps = m.steps
              .map((step) => `${formatNumber(step.delivered)}/${ms(step.p99Ms)}${step.passed ? '' : ' x'}`)
              .join(', ');
            const b = m.best;
            console.log(
              `${label} ${formatNumber(b?.delivered ?? 0).padStart(10)} events/s at p99 <= ${sloFor(clients, options)} ms` +
                (b === null
                  ? ''
                  : ` (p50 ${ms(b.p50Ms)}, p99 ${ms(b.p99Ms)} ms, server CPU ${formatPercent(b.serverCpu)}, ` +
                    `load-gen CPU ${formatPercent(b.loadCpu)}, waiting ${formatPercent(b.waiting)}, ` +
                    `min per client ${formatNumber(b.minPerClient)})`) +
                `; connected in ${m.connectSeconds.toFixed(1)} s; steps (events/s / p99 ms): ${steps}`,
            );
          } catch (error) {
            failures++;
            console.log(`${label} FAILED: ${errorText(error)}`);
          }
        }
      }
      return { report: report(title, measurements, sloFor(clients, options)), failures, measurements, infos };
    },
  };
}

export const FANOUT_SCENARIOS: readonly ScaleScenario[] = [
  scenario('ssefanout1k', 1000),
  scenario('ssefanout5k', 5000),
];
