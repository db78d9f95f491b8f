/**
 * The fan-out load generator: a process of its own, forked by scenarios/fanout.ts. It opens `clients`
 * subscribers (SSE over HTTP/1.1, SSE over HTTP/2 with h2-subscriber.ts, one connection each as
 * browsers of different users would, or WebSocket; all on raw sockets), reports when all are open, then
 * answers each 'fanout-window' request with what arrived during that window.
 *
 * Every subscriber counts its events; `sampled` of them (spread over the whole set) also parse every
 * event's timestamp (fanout-publisher.ts) to measure the delivery latency:
 * - SSE: an event is a `\ndata:` line (both libraries put another field before it), counted across
 *   read boundaries; HTTP/1.1 chunk framing never splits an event, as each event is one write;
 * - WebSocket: every frame is the same 66 bytes (2-byte header, 64-byte text payload, unmasked);
 * - hub (Conduit's hub protocol) and socket.io: app-frames.ts reads the frames, counts the events and
 *   answers the protocol's pings.
 */
import { cpuFraction, cpuSample } from '../protocol.js';
import type { FanoutLoadMessage, FanoutLoadPlan, FanoutWindowCommand } from '../scenarios/fanout-ipc.js';
import { EVENT_LENGTH, nowMicros, STAMP_LENGTH } from '../servers/fanout-publisher.js';
import { APP_PROTOCOLS, AppSubscriber } from './app-frames.js';
import { bound, fail, report } from './child.js';
import { h2Request, openH2Subscriber } from './h2-subscriber.js';
import { buildHandshake, type ConnectionEvents, openAll, openRequest, openUpgraded } from './upgrade.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** Conduit writes `data: `, better-sse `data:` (the space is optional). */
const NEEDLE = Buffer.from('\ndata:', 'latin1');
const WS_FRAME = 2 + EVENT_LENGTH;
/** Latency samples kept per window; past it, the samples already kept stand for the window. */
const MAX_SAMPLES = 1 << 21;

/** One subscriber's counters. */
class Subscriber {
  events = 0;
  /** SSE: how many bytes of NEEDLE the last read ended with. WebSocket: bytes received. */
  matched = 0;
  /** Unparsed text of a sampled subscriber (the start of an event or frame cut by a read). */
  tail = '';
  constructor(readonly sampled: boolean) {}
}

const latencies = new Float64Array(MAX_SAMPLES);
let sampleCount = 0;
let measuring = false;

function record(stampText: string, now: number): void {
  if (!measuring || sampleCount >= MAX_SAMPLES) return;
  const stamp = Number(stampText);
  if (!Number.isFinite(stamp)) void fail(new Error(`an event does not start with a timestamp: ${stampText}`));
  latencies[sampleCount++] = (now - stamp) / 1000;
}

/** Count SSE events in buffer[start, end), carrying a needle cut by the read boundary over. */
function countSse(sub: Subscriber, buffer: Buffer, start: number, end: number): void {
  let at = start;
  // A needle begun in the previous read.
  while (sub.matched > 0 && at < end) {
    if (buffer[at] !== NEEDLE[sub.matched]) {
      sub.matched = 0;
      break;
    }
    at++;
    if (++sub.matched === NEEDLE.length) {
      sub.events++;
      sub.matched = 0;
    }
  }
  if (at === end) return;
  const view = buffer.subarray(at, end);
  let found = view.indexOf(NEEDLE);
  while (found !== -1) {
    sub.events++;
    found = view.indexOf(NEEDLE, found + NEEDLE.length);
  }
  // The longest start of NEEDLE the read ends with (NEEDLE's first byte appears in it only once).
  const from = Math.max(0, view.length - NEEDLE.length + 1);
  const lf = view.lastIndexOf(0x0a);
  if (lf >= from && view.subarray(lf).equals(NEEDLE.subarray(0, view.length - lf)))
    sub.matched = view.length - lf;
  if (sub.sampled) stampsSse(sub, buffer.toString('latin1', start, end));
}

function stampsSse(sub: Subscriber, text: string): void {
  const now = nowMicros();
  const all = sub.tail + text;
  let at = all.indexOf('data:');
  while (at !== -1) {
    let from = at + 5;
    if (all.charCodeAt(from) === 0x20) from++;
    if (from + STAMP_LENGTH > all.length) break;
    record(all.slice(from, from + STAMP_LENGTH), now);
    at = all.indexOf('data:', from + STAMP_LENGTH);
  }
  // Keep what may be the start of the next `data:` and its stamp.
  sub.tail = at !== -1 ? all.slice(at) : all.slice(-4);
}

function countWs(sub: Subscriber, buffer: Buffer, start: number, end: number): void {
  const before = sub.matched;
  sub.matched += end - start;
  sub.events = Math.floor(sub.matched / WS_FRAME);
  if (!sub.sampled) return;
  const now = nowMicros();
  // `tail` always starts at a frame boundary.
  const all = sub.tail + buffer.toString('latin1', start, end);
  let frame = 0;
  for (; frame + WS_FRAME <= all.length; frame += WS_FRAME) {
    if (all.charCodeAt(frame) !== 0x81 || all.charCodeAt(frame + 1) !== EVENT_LENGTH) {
      void fail(new Error(`unexpected frame header at byte ${before} of a WebSocket subscriber`));
      return;
    }
    record(all.slice(frame + 2, frame + 2 + STAMP_LENGTH), now);
  }
  sub.tail = all.slice(frame);
}

function sseRequest(port: number): Buffer {
  return Buffer.from(
    `GET /sse?channel=bench HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`,
    'latin1',
  );
}

function checkSseHead(head: string): true | Error {
  if (!head.startsWith('HTTP/1.1 200 ')) return new Error(`SSE request refused: ${head.slice(0, 40)}`);
  if (!/\r\ncontent-type: text\/event-stream/i.test(head))
    return new Error('SSE response is not text/event-stream');
  return true;
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as FanoutLoadPlan;
  bound(plan.lifetimeMs);
  let running = true;
  const every = Math.max(1, Math.floor(plan.clients / Math.max(1, plan.sampled)));
  const subscribers = Array.from({ length: plan.clients }, (_, i) => new Subscriber(i % every === 0));
  const count = plan.transport === 'ws' ? countWs : countSse;
  const eventsOf = (index: number): ConnectionEvents => {
    const sub = subscribers[index]!;
    return {
      bytes: (buffer, start, end) => count(sub, buffer, start, end),
      lost: (error) => {
        if (running) void fail(error);
      },
    };
  };

  const started = performance.now();
  let open: (index: number) => Promise<{ close(): void }>;
  if (plan.transport === 'ws') {
    const handshake = buildHandshake(plan.port, '/fanout', null);
    open = async (index) => {
      const { socket } = await openUpgraded(handshake, CONNECT_TIMEOUT_MS, eventsOf(index));
      return { close: () => socket.destroy() };
    };
  } else if (plan.transport === 'hub' || plan.transport === 'socket.io') {
    const rules = APP_PROTOCOLS[plan.transport];
    const handshakes = (plan.ports ?? [plan.port]).map((port) =>
      buildHandshake(port, rules.path, null, rules.subprotocol),
    );
    open = async (index) => {
      const handshake = handshakes[index % handshakes.length]!;
      const sub = subscribers[index]!;
      const app = new AppSubscriber(rules, sub.sampled, (stamp) => record(stamp, nowMicros()));
      const { socket } = await openUpgraded(handshake, CONNECT_TIMEOUT_MS, {
        bytes: (buffer, start, end) => {
          app.push(buffer, start, end);
          sub.events = app.events;
        },
        lost: eventsOf(index).lost,
      });
      app.start(socket);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        app.ready,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${plan.transport}: not subscribed in time`)),
            CONNECT_TIMEOUT_MS,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      return { close: () => socket.destroy() };
    };
  } else if (plan.transport === 'sse-h1') {
    const request = sseRequest(plan.port);
    open = async (index) => {
      const { socket } = await openRequest(
        plan.port,
        request,
        CONNECT_TIMEOUT_MS,
        eventsOf(index),
        checkSseHead,
      );
      return { close: () => socket.destroy() };
    };
  } else {
    const request = h2Request(plan.port, '/sse?channel=bench');
    open = async (index) => {
      const socket = await openH2Subscriber(plan.port, request, CONNECT_TIMEOUT_MS, eventsOf(index));
      return { close: () => socket.destroy() };
    };
  }
  const connections = await openAll(plan.clients, plan.concurrency, open);
  await report<FanoutLoadMessage>({
    type: 'fanout-connected',
    seconds: (performance.now() - started) / 1000,
  });

  process.on('message', (raw: unknown) => {
    const command = raw as FanoutWindowCommand | { type: 'stop' };
    if (command.type === 'stop') {
      running = false;
      for (const c of connections) c.close();
      process.exit(0);
    }
    if (command.type !== 'fanout-window') return;
    const before = subscribers.map((s) => s.events);
    const cpuStart = cpuSample();
    const t0 = performance.now();
    sampleCount = 0;
    measuring = true;
    setTimeout(() => {
      measuring = false;
      const seconds = (performance.now() - t0) / 1000;
      const cpu = cpuFraction(cpuStart, cpuSample());
      let deliveries = 0;
      let minPerClient = Number.POSITIVE_INFINITY;
      for (let i = 0; i < subscribers.length; i++) {
        const n = subscribers[i]!.events - before[i]!;
        deliveries += n;
        minPerClient = Math.min(minPerClient, n);
      }
      const sorted = latencies.slice(0, sampleCount).sort();
      const pick = (q: number): number =>
        sorted.length === 0
          ? Number.NaN
          : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      void report<FanoutLoadMessage>({
        type: 'fanout-window',
        deliveries,
        seconds,
        minPerClient,
        p50Ms: pick(0.5),
        p99Ms: pick(0.99),
        maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
        latencySamples: sorted.length,
        cpu,
      });
    }, command.ms);
  });
}

main().catch(fail);
