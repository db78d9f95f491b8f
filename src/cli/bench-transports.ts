/**
 * `conduit bench transports`: what each hub transport costs on this machine, measured end to end with
 * the hub client against a `conduit serve` in a process of its own:
 *
 *   - latency: a publisher (WebSocket) publishes stamped 64-character messages at a steady rate; every
 *     subscriber on the transport under test measures publish-to-receive time (one clock: publisher
 *     and subscribers share this process), p50 and p99;
 *   - messages/s: the publisher publishes as fast as acks come back (a window of 500); delivered
 *     messages per second over all subscribers, first publish to last delivery;
 *   - bytes on the wire: the subscribers go through a counting TCP proxy (bytes both ways, headers,
 *     framing, polls and pongs included), divided by the messages they received; and a publisher on
 *     the transport under test goes through another, divided by the messages it published (the
 *     publish and its ack).
 *
 * Every phase is bounded in count and time. The figures feed docs/choosing-a-transport.md; `--svg`
 * draws them (svg-chart.ts).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ConduitClient, TransportKind } from '../client/index.js';
import { connectHub } from '../client/node.js';
import { barChart } from './svg-chart.js';

const HELP = `Usage: conduit bench transports [options]

  --subscribers N   subscribers per transport (default 20)
  --rate N          messages/s of the latency phase (default 200)
  --seconds S       length of the latency phase (default 5)
  --burst N         messages of the throughput phase (default 5000)
  --runs N          runs; medians are reported (default 3)
  --json FILE       write every figure as JSON
  --svg FILE        draw the medians as an SVG chart

Starts \`conduit serve\` on a free port in a child process, measures WebSocket, SSE and long-polling
with the hub client (latency p50/p99, messages/s, bytes on the wire per message) and prints a table.`;

const KINDS: readonly TransportKind[] = ['websocket', 'sse', 'polling'];
export const TRANSPORT_NAMES: Record<TransportKind, string> = {
  websocket: 'WebSocket',
  sse: 'SSE + POST',
  polling: 'long-polling',
};
const PAYLOAD_FILL = 'x'.repeat(64 - 16);
const PHASE_TIMEOUT_MS = 60_000;

export interface TransportFigures {
  transport: TransportKind;
  p50Ms: number;
  p99Ms: number;
  messagesPerSecond: number;
  /** Server to client bytes per message received. */
  bytesDown: number;
  /** Client to server bytes per message received (polls, POSTs, pongs). */
  bytesUp: number;
  /** Bytes both ways per message published on the transport (the publish, its ack, HTTP overhead). */
  bytesPerPublish: number;
}

interface Options {
  subscribers: number;
  rate: number;
  seconds: number;
  burst: number;
  runs: number;
}

export async function runBenchTransports(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      subscribers: { type: 'string', default: '20' },
      rate: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '5' },
      burst: { type: 'string', default: '5000' },
      runs: { type: 'string', default: '3' },
      json: { type: 'string' },
      svg: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const options: Options = {
    subscribers: positive(values.subscribers, '--subscribers', 1000),
    rate: positive(values.rate, '--rate', 100_000),
    seconds: positive(values.seconds, '--seconds', 600),
    burst: positive(values.burst, '--burst', 1_000_000),
    runs: positive(values.runs, '--runs', 100),
  };
  const server = await startServeChild();
  const proxy = await startCountingProxy(server.port);
  const publishProxy = await startCountingProxy(server.port);
  const all: TransportFigures[] = [];
  try {
    for (let run = 0; run < options.runs; run++) {
      for (const kind of KINDS) {
        const figures = await measureTransport(server.url, [proxy, publishProxy], kind, options, `run${run}`);
        all.push(figures);
        process.stdout.write(
          `run ${run + 1}/${options.runs} ${TRANSPORT_NAMES[kind].padEnd(13)} p50 ${figures.p50Ms.toFixed(1)} ms, ` +
            `p99 ${figures.p99Ms.toFixed(1)} ms, ${Math.round(figures.messagesPerSecond)} msgs/s, ` +
            `${Math.round(figures.bytesDown)} B down + ${Math.round(figures.bytesUp)} B up per message, ` +
            `${Math.round(figures.bytesPerPublish)} B per publish\n`,
        );
      }
    }
  } finally {
    await proxy.close();
    await publishProxy.close();
    server.child.kill();
  }
  const medians = KINDS.map((kind) => medianFigures(all.filter((f) => f.transport === kind)));
  process.stdout.write(`\n${figuresTable(medians, options)}\n`);
  if (values.json !== undefined) {
    await writeFile(values.json, `${JSON.stringify({ options, runs: all, medians }, null, 2)}\n`);
  }
  if (values.svg !== undefined) await writeFile(values.svg, transportsChart(medians, options));
  return 0;
}

function positive(value: string, name: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`${name} expects an integer from 1 to ${max}`);
  return n;
}

// The server --------------------------------------------------------------------------------------

async function startServeChild(): Promise<{ child: ChildProcess; url: string; port: number }> {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  // Every subscriber comes from 127.0.0.1: the limits per client address would take them for one client.
  const unlimited = ['--max-connections-per-address', '1000000', '--new-sessions-per-second', '1000000'];
  const args = ['serve', '--port', '0', '--no-demo', '--deflate', 'off', ...unlimited];
  args.push('--max-sessions-per-address', '1000000');
  const child = fork(main, args, {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('conduit serve did not start in 10 s')), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /conduit serving (http:\/\/[^/\s]+)\//.exec(text);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`conduit serve exited with ${code}`)));
  });
  return { child, url, port: Number(new URL(url).port) };
}

// Bytes on the wire -------------------------------------------------------------------------------

interface CountingProxy {
  readonly url: string;
  readonly down: number;
  readonly up: number;
  reset(): void;
  close(): Promise<void>;
}

/** A TCP proxy to the server that counts the bytes each way. */
async function startCountingProxy(port: number): Promise<CountingProxy> {
  let down = 0;
  let up = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('data', (chunk: Buffer) => {
      up += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const proxyPort = address !== null && typeof address === 'object' ? address.port : 0;
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    get down() {
      return down;
    },
    get up() {
      return up;
    },
    reset() {
      down = 0;
      up = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// One transport -----------------------------------------------------------------------------------

interface Subscribers {
  clients: ConduitClient[];
  /** Messages received, all subscribers together. */
  received(): number;
  latencies: number[];
  recording: boolean;
}

async function subscribe(url: string, kind: TransportKind, n: number, channel: string): Promise<Subscribers> {
  const subs: Subscribers = { clients: [], received: () => count, latencies: [], recording: false };
  let count = 0;
  const ready: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const client = connectHub(url, { transports: [kind] });
    const sub = client.subscribe(channel, (m) => {
      count++;
      if (subs.recording) subs.latencies.push(performance.now() - Number(m.data.slice(0, 16)));
    });
    ready.push(new Promise((resolve) => sub.on('subscribed', resolve)));
    subs.clients.push(client);
  }
  await bounded(Promise.all(ready), `${kind} subscribers`);
  return subs;
}

function stamped(): string {
  return performance.now().toFixed(3).padStart(16, '0') + PAYLOAD_FILL;
}

async function measureTransport(
  base: string,
  [proxy, publishProxy]: [CountingProxy, CountingProxy],
  kind: TransportKind,
  options: Options,
  tag: string,
): Promise<TransportFigures> {
  const publisher = connectHub(base, { transports: ['websocket'], maxPendingPublishes: 1000 });
  try {
    // Latency: a steady rate, direct connections.
    const latency = await subscribe(base, kind, options.subscribers, `bench.${tag}.${kind}.latency`);
    const total = options.rate * options.seconds;
    latency.recording = true;
    await paced(total, options.rate, () => publisher.publish(`bench.${tag}.${kind}.latency`, stamped()));
    await until(() => latency.received() >= total * options.subscribers, `${kind}: latency phase`);
    closeAll(latency.clients);
    const sorted = latency.latencies.sort((a, b) => a - b);

    // Throughput: as fast as acks come back.
    const burst = await subscribe(base, kind, options.subscribers, `bench.${tag}.${kind}.burst`);
    const started = performance.now();
    await windowed(options.burst, 500, () => publisher.publish(`bench.${tag}.${kind}.burst`, stamped()));
    await until(() => burst.received() >= options.burst * options.subscribers, `${kind}: throughput phase`);
    const perSecond = (options.burst * options.subscribers) / ((performance.now() - started) / 1000);
    closeAll(burst.clients);

    // Bytes on the wire: through the counting proxies, at a steady rate, with a publisher on the
    // transport under test too.
    const wire = await subscribe(
      proxy.url,
      kind,
      Math.min(5, options.subscribers),
      `bench.${tag}.${kind}.wire`,
    );
    const sender = connectHub(publishProxy.url, { transports: [kind] });
    await bounded(once(sender, 'connected'), `${kind} publisher`);
    const messages = Math.min(500, total);
    proxy.reset();
    publishProxy.reset();
    await paced(messages, Math.min(100, options.rate), () =>
      sender.publish(`bench.${tag}.${kind}.wire`, stamped()),
    );
    await until(() => wire.received() >= messages * wire.clients.length, `${kind}: wire phase`);
    sender.close();
    const delivered = messages * wire.clients.length;
    const figures: TransportFigures = {
      transport: kind,
      p50Ms: pick(sorted, 0.5),
      p99Ms: pick(sorted, 0.99),
      messagesPerSecond: perSecond,
      bytesDown: proxy.down / delivered,
      bytesUp: proxy.up / delivered,
      bytesPerPublish: (publishProxy.up + publishProxy.down) / messages,
    };
    closeAll(wire.clients);
    return figures;
  } finally {
    publisher.close();
  }
}

function once(client: ConduitClient, event: 'connected'): Promise<void> {
  return new Promise((resolve) => {
    const off = client.on(event, () => {
      off();
      resolve();
    });
  });
}

function closeAll(clients: ConduitClient[]): void {
  for (const c of clients) c.close();
}

function pick(sorted: number[], q: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Call `publish` `count` times at `rate` per second (in 10 ms ticks); resolves when all are acked. */
async function paced(count: number, rate: number, publish: () => Promise<unknown>): Promise<void> {
  const acks: Promise<unknown>[] = [];
  const start = performance.now();
  while (acks.length < count) {
    const due = Math.min(count, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    while (acks.length < due) acks.push(publish());
    await new Promise((r) => setTimeout(r, 10));
  }
  await bounded(Promise.all(acks), 'acks');
}

/** Call `publish` `count` times keeping at most `window` unacknowledged. */
async function windowed(count: number, window: number, publish: () => Promise<unknown>): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    const p: Promise<unknown> = publish().finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= window) await bounded(Promise.race(inFlight), 'an ack');
  }
  await bounded(Promise.all(inFlight), 'acks');
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + PHASE_TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not done in ${PHASE_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: none in ${PHASE_TIMEOUT_MS / 1000} s`)),
          PHASE_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// Report ------------------------------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianFigures(runs: TransportFigures[]): TransportFigures {
  return {
    transport: runs[0]!.transport,
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    messagesPerSecond: median(runs.map((r) => r.messagesPerSecond)),
    bytesDown: median(runs.map((r) => r.bytesDown)),
    bytesUp: median(runs.map((r) => r.bytesUp)),
    bytesPerPublish: median(runs.map((r) => r.bytesPerPublish)),
  };
}

export function figuresTable(medians: TransportFigures[], options: Options): string {
  const rows = medians.map(
    (f) =>
      `| ${TRANSPORT_NAMES[f.transport]} | ${f.p50Ms.toFixed(1)} | ${f.p99Ms.toFixed(1)} | ` +
      `${Math.round(f.messagesPerSecond).toLocaleString('en-US')} | ${Math.round(f.bytesDown)} | ${Math.round(f.bytesUp)} | ` +
      `${Math.round(f.bytesPerPublish)} |`,
  );
  return [
    `| transport | p50 ms at ${options.rate}/s | p99 ms | messages/s (${options.subscribers} subscribers) | ` +
      'bytes down / message received | bytes up / message received | bytes / message published |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function transportsChart(medians: TransportFigures[], options: Options): string {
  return barChart({
    title: `Hub transports on this machine (medians of ${options.runs} runs, ${options.subscribers} subscribers, 64-character messages)`,
    categories: medians.map((f) => TRANSPORT_NAMES[f.transport]),
    panels: [
      {
        title: 'Latency, ms (lower: better)',
        series: [
          { name: 'p50', values: medians.map((f) => f.p50Ms) },
          { name: 'p99', values: medians.map((f) => f.p99Ms) },
        ],
      },
      {
        title: 'Delivered messages/s (higher: better)',
        series: [{ name: 'messages/s', values: medians.map((f) => f.messagesPerSecond) }],
      },
      {
        title: 'Bytes per message on the wire (lower: better)',
        series: [
          { name: 'per message received', values: medians.map((f) => f.bytesDown + f.bytesUp) },
          { name: 'per message published', values: medians.map((f) => f.bytesPerPublish) },
        ],
      },
    ],
  });
}
