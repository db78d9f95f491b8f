/**
 * hubfanout10k: one channel to 10,000 WebSocket subscribers, Conduit's hub (/ws, conduit.v1: a
 * subscription with offsets and history) against Socket.IO 4 (a room, its in-memory adapter), the
 * same publisher in the server process and the same load generator (load/app-frames.ts speaks both
 * protocols, answers their pings). Measured as the SSE fan-out is (fanout.ts): delivered events/s at
 * the highest fixed publish rate whose p99 latency stays under the bound (--fanout-slo-ms per 1,000
 * subscribers: 1 s by default for 10,000). Before the load, with every subscriber connected and idle,
 * the server's memory per subscriber (RSS and V8 heap + external, after gc; servers/idle-memory.ts).
 *
 * Targets (the hub issue): at least 3x Socket.IO's delivered messages/s, at most half its idle memory
 * per subscriber.
 */
import { formatBytes, formatNumber, formatPercent, formatRatio, markdownTable, median } from '../stats.js';
import {
  type FanoutMeasurement,
  FIRST_RATE,
  GENERATOR_BOUND,
  LABELS,
  measure,
  ms,
  sloFor,
  TRANSPORT_LABELS,
} from './fanout.js';
import type { FanoutServerKind, FanoutTransport } from './fanout-ipc.js';
import { errorText, type ScaleOptions, type ScaleOutcome, type ScaleScenario } from './scale.js';

const VARIANTS: readonly { server: FanoutServerKind; transport: FanoutTransport }[] = [
  { server: 'conduit', transport: 'hub' },
  { server: 'socket.io', transport: 'socket.io' },
];
const THROUGHPUT_TARGET = 3;
const MEMORY_TARGET = 0.5;

function report(title: string, measurements: FanoutMeasurement[], sloMs: number): string {
  const of = (server: FanoutServerKind) => measurements.filter((m) => m.server === server);
  const sustained = (server: FanoutServerKind) => median(of(server).map((m) => m.best?.delivered ?? 0));
  const bestMedian = (server: FanoutServerKind, pick: (m: FanoutMeasurement) => number | undefined) =>
    median(of(server).map((m) => pick(m) ?? Number.NaN));
  const rows = VARIANTS.map(({ server, transport }) => {
    const values = of(server).map((m) => m.best?.delivered ?? 0);
    const loadCpu = bestMedian(server, (m) => m.best?.loadCpu);
    return [
      `${LABELS[server]}, ${TRANSPORT_LABELS[transport]}`,
      formatNumber(median(values)),
      values.length > 0
        ? `${formatNumber(Math.min(...values))} - ${formatNumber(Math.max(...values))}`
        : 'n/a',
      ms(bestMedian(server, (m) => m.best?.p50Ms)),
      ms(bestMedian(server, (m) => m.best?.p99Ms)),
      `${ms(bestMedian(server, (m) => m.light.p50Ms))} / ${ms(bestMedian(server, (m) => m.light.p99Ms))}`,
      formatPercent(bestMedian(server, (m) => m.best?.serverCpu)),
      formatPercent(loadCpu) + (loadCpu >= GENERATOR_BOUND ? ' (!)' : ''),
      formatBytes(bestMedian(server, (m) => m.idle?.rssBytes)),
      formatBytes(bestMedian(server, (m) => m.idle?.heapBytes)),
      String(values.length),
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
        `messages/s at p99 <= ${sloMs} ms`,
        'min - max',
        'p50 ms',
        'p99 ms',
        `p50 / p99 ms at ${formatNumber(FIRST_RATE)}/s`,
        'server CPU',
        'load-gen CPU',
        'idle RSS / subscriber',
        'idle heap / subscriber',
        'runs',
      ],
      rows,
    ),
    '',
    'Messages/s: messages received by all subscribers together per second, at the highest fixed publish ' +
      `rate whose p99 delivery latency stayed <= ${sloMs} ms with 97% delivered; p50/p99, CPU of that step. ` +
      'Idle memory: the server process with every subscriber connected and subscribed, nothing published, ' +
      'after gc, less the same before any connection, divided by the subscribers.',
    '',
  ];
  if (rows.some((row) => row[7]!.endsWith('(!)'))) {
    lines.push('(!) the load generator was near one full core: that figure may be its limit.', '');
  }
  if (Number.isFinite(throughput)) {
    lines.push(
      `Conduit hub / Socket.IO: **${formatRatio(throughput)}** messages/s at p99 <= ${sloMs} ms (target >= ` +
        `${THROUGHPUT_TARGET}x: ${throughput >= THROUGHPUT_TARGET ? 'met' : 'NOT met'}); idle memory per ` +
        `subscriber **${formatRatio(rss)}** of Socket.IO's in RSS, ${formatRatio(heap)} in heap (target <= ` +
        `${MEMORY_TARGET}x: ${rss <= MEMORY_TARGET ? 'met' : 'NOT met'}).`,
      '',
    );
  }
  return lines.join('\n');
}

function scenario(name: string, clients: number): ScaleScenario {
  const title = `One channel to ${formatNumber(clients)} WebSocket subscribers: Conduit hub vs Socket.IO`;
  return {
    name,
    async run(options: ScaleOptions): Promise<ScaleOutcome> {
      const measurements: FanoutMeasurement[] = [];
      const infos = new Map<string, string>();
      let failures = 0;
      for (let run = 0; run < options.runs; run++) {
        const order = VARIANTS.map((_, i) => VARIANTS[(i + run) % VARIANTS.length]!);
        for (const variant of order) {
          const label = `[${name} ${run + 1}/${options.runs}] ${variant.server.padEnd(10)}`;
          try {
            const m = await measure(clients, name, variant, run, options, infos, true);
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
                `; idle ${formatBytes(m.idle?.rssBytes ?? Number.NaN)} RSS, ${formatBytes(m.idle?.heapBytes ?? Number.NaN)} heap per subscriber` +
                `; connected in ${m.connectSeconds.toFixed(1)} s; steps: ${steps}`,
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

export const HUB_FANOUT_SCENARIOS: readonly ScaleScenario[] = [scenario('hubfanout10k', 10_000)];
