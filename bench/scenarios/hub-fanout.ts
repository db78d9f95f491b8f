/**
 * hubfanout10k: one channel to 10,000 WebSocket subscribers, Conduit's hub (/ws, conduit.v1: a
 * subscription with offsets and history) against Socket.IO 4 (a room, its in-memory adapter), the
 * same publisher in the server process and the same load generator (load/app-frames.ts speaks both
 * protocols, answers their pings). Measured as the SSE fan-out is (fanout.ts): delivered events/s at
 * the highest fixed publish rate whose p99 latency stays under the bound (--fanout-slo-ms per 1,000
 * subscribers: 1 s by default for 10,000). Before the load, with every subscriber connected and idle,
 * the server's memory per subscriber (RSS and V8 heap + external, after gc; servers/idle-memory.ts).
 * Targets (the hub issue): at least 3x Socket.IO's delivered messages/s, at most half its idle memory
 * per subscriber.
 *
 * clusterfanout3k: the same across 3 server processes sharing one Redis (REDIS_URL, default
 * redis://127.0.0.1:6379; each measurement has a key prefix of its own, deleted afterwards): Conduit's
 * hub on its RedisBroker (every publish a Lua script: offset, Stream entry, PUBLISH) against Socket.IO
 * with @socket.io/redis-adapter (PUBLISH of each room emit). The publisher runs in node 1 only; the
 * 3,000 subscribers are spread over the 3 nodes round-robin, so two thirds of the deliveries cross
 * Redis. Server CPU is the 3 nodes' together. Targets (the scale-out issue): at least 2x Socket.IO's
 * delivered messages/s, with a lower p99 latency at the same load.
 */
import { Redis } from 'ioredis';
import { formatBytes, formatNumber, formatPercent, formatRatio, markdownTable, median } from '../stats.js';
import {
  type FanoutMeasurement,
  GENERATOR_NOTE,
  LABELS,
  type MeasureExtras,
  measure,
  ms,
  type Step,
  sloFor,
  stepColumns,
  stepHeader,
  TRANSPORT_LABELS,
} from './fanout.js';
import type { FanoutServerKind, FanoutTransport } from './fanout-ipc.js';
import { errorText, type ScaleOptions, type ScaleOutcome, type ScaleScenario } from './scale.js';

const VARIANTS: readonly { server: FanoutServerKind; transport: FanoutTransport }[] = [
  { server: 'conduit', transport: 'hub' },
  { server: 'socket.io', transport: 'socket.io' },
];
const MEMORY_TARGET = 0.5;

/** One scenario of this file: how many nodes (1: in-memory, no Redis) and the throughput target. */
interface HubFanoutShape {
  name: string;
  clients: number;
  nodes: number;
  /** Conduit's delivered messages/s over Socket.IO's. */
  throughputTarget: number;
}

/**
 * The highest rate of the climb (25,000 x 1.5^k deliveries/s offered) that every run of both servers
 * passed, and each server's median p99 there: latency compared at the same load.
 */
function p99AtCommonLoad(
  measurements: readonly FanoutMeasurement[],
): { offered: number; p99: Map<FanoutServerKind, number> } | null {
  const passedAt = (m: FanoutMeasurement, offered: number): Step | undefined =>
    m.steps.find((step) => step.passed && Math.abs(step.offered - offered) < 1);
  const rates = [...new Set(measurements.flatMap((m) => m.steps.map((step) => step.offered)))].sort(
    (a, b) => b - a,
  );
  for (const offered of rates) {
    if (measurements.length === 0 || !measurements.every((m) => passedAt(m, offered) !== undefined)) continue;
    const p99 = new Map<FanoutServerKind, number>();
    for (const { server } of VARIANTS) {
      p99.set(
        server,
        median(measurements.filter((m) => m.server === server).map((m) => passedAt(m, offered)!.p99Ms)),
      );
    }
    return { offered, p99 };
  }
  return null;
}

function report(
  shape: HubFanoutShape,
  title: string,
  measurements: FanoutMeasurement[],
  sloMs: number,
): string {
  const clustered = shape.nodes > 1;
  const of = (server: FanoutServerKind) => measurements.filter((m) => m.server === server);
  const sustained = (server: FanoutServerKind) => median(of(server).map((m) => m.best?.delivered ?? 0));
  const bestMedian = (server: FanoutServerKind, pick: (m: FanoutMeasurement) => number | undefined) =>
    median(of(server).map((m) => pick(m) ?? Number.NaN));
  let atGeneratorBound = false;
  const rows = VARIANTS.map(({ server, transport }) => {
    const shared = stepColumns(of(server));
    atGeneratorBound ||= shared.atGeneratorBound;
    return [
      `${LABELS[server]}, ${TRANSPORT_LABELS[transport]}`,
      ...shared.cells,
      ...(clustered
        ? []
        : [
            formatBytes(bestMedian(server, (m) => m.idle?.rssBytes)),
            formatBytes(bestMedian(server, (m) => m.idle?.heapBytes)),
          ]),
      String(of(server).length),
    ];
  });
  const throughput = sustained('conduit') / sustained('socket.io');
  const rss =
    bestMedian('conduit', (m) => m.idle?.rssBytes) / bestMedian('socket.io', (m) => m.idle?.rssBytes);
  const heap =
    bestMedian('conduit', (m) => m.idle?.heapBytes) / bestMedian('socket.io', (m) => m.idle?.heapBytes);
  const lines = [
    `### ${title}`,
    '',
    markdownTable(
      [
        'server, transport',
        ...stepHeader('messages', sloMs, clustered ? `server CPU (${shape.nodes} nodes)` : 'server CPU'),
        ...(clustered ? [] : ['idle RSS / subscriber', 'idle heap / subscriber']),
        'runs',
      ],
      rows,
    ),
    '',
    'Messages/s: messages received by all subscribers together per second, at the highest fixed publish ' +
      `rate whose p99 delivery latency stayed <= ${sloMs} ms with 97% delivered; p50/p99, CPU of that step. ` +
      (clustered
        ? `The publisher runs in node 1; subscribers are spread over the ${shape.nodes} nodes round-robin.`
        : 'Idle memory: the server process with every subscriber connected and subscribed, nothing published, ' +
          'after gc, less the same before any connection, divided by the subscribers.'),
    '',
  ];
  if (atGeneratorBound) lines.push(GENERATOR_NOTE, '');
  if (!Number.isFinite(throughput)) return lines.join('\n');
  const target = shape.throughputTarget;
  const versus =
    `Conduit hub / Socket.IO: **${formatRatio(throughput)}** messages/s at p99 <= ${sloMs} ms (target >= ` +
    `${target}x: ${throughput >= target ? 'met' : 'NOT met'})`;
  if (clustered) {
    const common = p99AtCommonLoad(measurements);
    const conduitP99 = common?.p99.get('conduit') ?? Number.NaN;
    const socketioP99 = common?.p99.get('socket.io') ?? Number.NaN;
    lines.push(
      `${versus}; p99 latency at the highest load both sustained in every run ` +
        (common === null
          ? '(none): n/a.'
          : `(${formatNumber(common.offered)} messages/s offered): **${ms(conduitP99)} ms vs ${ms(socketioP99)} ms** ` +
            `(lower: ${conduitP99 < socketioP99 ? 'met' : 'NOT met'}).`),
      '',
    );
  } else {
    lines.push(
      `${versus}; idle memory per subscriber **${formatRatio(rss)}** of Socket.IO's in RSS, ${formatRatio(heap)} ` +
        `in heap (target <= ${MEMORY_TARGET}x: ${rss <= MEMORY_TARGET ? 'met' : 'NOT met'}).`,
      '',
    );
  }
  return lines.join('\n');
}

/** The Redis the cross-node scenario runs on; answers or throws a clear error. */
async function redisFor(name: string): Promise<string> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return url;
  } catch (error) {
    throw new Error(`${name} needs a Redis server at ${url} (set REDIS_URL): ${errorText(error)}`);
  } finally {
    redis.disconnect();
  }
}

/** Delete what a measurement left under its key prefix (Conduit's streams and metadata). */
async function deletePrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

function scenario(shape: HubFanoutShape): ScaleScenario {
  const { name, clients, nodes } = shape;
  const title =
    nodes > 1
      ? `One channel to ${formatNumber(clients)} WebSocket subscribers on ${nodes} nodes over Redis, publisher on node 1: Conduit hub vs Socket.IO + Redis adapter`
      : `One channel to ${formatNumber(clients)} WebSocket subscribers: Conduit hub vs Socket.IO`;
  return {
    name,
    async run(options: ScaleOptions): Promise<ScaleOutcome> {
      const measurements: FanoutMeasurement[] = [];
      const infos = new Map<string, string>();
      let failures = 0;
      let redisUrl: string | null = null;
      if (nodes > 1) {
        try {
          redisUrl = await redisFor(name);
        } catch (error) {
          // The other scenarios' figures still get reported.
          console.log(`[${name}] FAILED: ${errorText(error)}`);
          return {
            report: `### ${title}\n\nNot measured: ${errorText(error)}\n`,
            failures: 1,
            measurements,
            infos,
          };
        }
      }
      for (let run = 0; run < options.runs; run++) {
        const order = VARIANTS.map((_, i) => VARIANTS[(i + run) % VARIANTS.length]!);
        for (const variant of order) {
          const label = `[${name} ${run + 1}/${options.runs}] ${variant.server.padEnd(10)}`;
          const prefix = `conduit-bench:${process.pid}:${name}:${run}:${variant.server}:`;
          const extras: MeasureExtras =
            redisUrl === null ? { idleMemory: true } : { cluster: { nodes, redisUrl, prefix } };
          try {
            const m = await measure(clients, name, variant, run, options, infos, extras);
            measurements.push(m);
            const b = m.best;
            const steps = m.steps
              .map((step) => `${formatNumber(step.delivered)}/${ms(step.p99Ms)}${step.passed ? '' : ' x'}`)
              .join(', ');
            console.log(
              `${label} ${formatNumber(b?.delivered ?? 0).padStart(10)} msgs/s at p99 <= ${sloFor(clients, options)} ms` +
                (b === null
                  ? ''
                  : ` (p50 ${ms(b.p50Ms)}, p99 ${ms(b.p99Ms)} ms, server CPU ${formatPercent(b.serverCpu)}, ` +
                    `load-gen CPU ${formatPercent(b.loadCpu)})`) +
                (m.idle === null
                  ? ''
                  : `; idle ${formatBytes(m.idle.rssBytes)} RSS, ${formatBytes(m.idle.heapBytes)} heap per subscriber`) +
                `; connected in ${m.connectSeconds.toFixed(1)} s; steps: ${steps}`,
            );
          } catch (error) {
            failures++;
            console.log(`${label} FAILED: ${errorText(error)}`);
          } finally {
            if (redisUrl !== null) await deletePrefix(redisUrl, prefix).catch(() => undefined);
          }
        }
      }
      const text = report(shape, title, measurements, sloFor(clients, options));
      return { report: text, failures, measurements, infos };
    },
  };
}

export const HUB_FANOUT_SCENARIOS: readonly ScaleScenario[] = [
  scenario({ name: 'hubfanout10k', clients: 10_000, nodes: 1, throughputTarget: 3 }),
  scenario({ name: 'clusterfanout3k', clients: 3000, nodes: 3, throughputTarget: 2 }),
];
