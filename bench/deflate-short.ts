/**
 * What sending short messages flagged compressed costs (issue 14, item 7): echo of short text
 * messages (default 21 bytes, the size of libwebsockets' mirror messages) through a Conduit
 * WebSocketServer with permessage-deflate agreed the way lws offers it
 * ("permessage-deflate; client_no_context_takeover"), in each way of sending them:
 *
 *   off               no permessage-deflate (the floor)
 *   shared-plain      shared mode, shortMessages 'plain': RSV1 clear (before; lws hangs)
 *   shared-stored     shared mode, the default: stored blocks, RSV1 set, no zlib
 *   shared-deflate    shared mode, threshold 0: every message through zlib (the alternative)
 *   dedicated-plain   dedicated mode, threshold 1024: short ones plain (before; lws hangs)
 *   dedicated         dedicated mode, the default: threshold 0, every message deflated in the pool
 *   ws                ws 8 with perMessageDeflate: true (context takeover: it deflates every message)
 *
 * Each measurement forks a fresh server (this file with --server VARIANT); the load generator runs
 * here: C connections each keep K messages in flight (plain masked frames up, echoes counted from
 * frame headers, never inflated, so the generator's cost is the same for every variant). Variants
 * rotate from run to run; the report gives medians of echoes per second and of the server's CPU per
 * echo. It then times, in this process, what a peer pays to read one echo of each kind. Bounded:
 * the server exits by itself after its deadline and is killed when this process ends.
 *
 *   node dist/bench/deflate-short.js [--runs 5] [--seconds 3] [--warmup 1] [--connections 20]
 *                                    [--in-flight 8] [--size 21] [--variants a,b,...]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { WebSocketServer as WsServer } from 'ws';
import { type PerMessageDeflateOptions, WebSocketServer } from '../src/index.js';
import { storeMessage, unstoreMessage } from '../src/pipeline/stored-block.js';
import { type CpuSample, cpuFraction, cpuSample } from './protocol.js';
import { formatNumber, markdownTable, median } from './stats.js';

/** Conduit's options per variant; 'ws' is the ws package with its defaults (runServer). */
const VARIANTS: Record<string, false | PerMessageDeflateOptions> = {
  off: false,
  'shared-plain': { mode: 'shared', shortMessages: 'plain' },
  'shared-stored': { mode: 'shared' },
  'shared-deflate': { mode: 'shared', threshold: 0 },
  'dedicated-plain': { mode: 'dedicated', threshold: 1024 },
  dedicated: { mode: 'dedicated' },
  ws: {},
};

const OFFER = 'permessage-deflate; client_no_context_takeover';
const SERVER_LIFETIME_MS = 120_000;

type ToServer = { type: 'cpu' } | { type: 'stop' };
type FromServer = { type: 'ready'; port: number } | { type: 'cpu'; sample: CpuSample };

// Server ------------------------------------------------------------------------------------------

async function runServer(variant: string): Promise<void> {
  if (variant === 'ws') return runWsServer();
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    path: '/echo',
    perMessageDeflate: VARIANTS[variant],
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : data.toString()));
    ws.on('error', () => undefined);
  });
  await once(wss, 'listening');
  const address = wss.address();
  serve(typeof address === 'object' && address !== null ? address.port : 0);
}

/** The ws package, for reference: perMessageDeflate true (its defaults), echoing with the type. */
async function runWsServer(): Promise<void> {
  const wss = new WsServer({ port: 0, host: '127.0.0.1', path: '/echo', perMessageDeflate: true });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => undefined);
  });
  await once(wss, 'listening');
  const address = wss.address();
  serve(typeof address === 'object' && address !== null ? address.port : 0);
}

function serve(port: number): void {
  setTimeout(() => process.exit(3), SERVER_LIFETIME_MS).unref();
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: ToServer) => {
    if (m.type === 'cpu') process.send?.({ type: 'cpu', sample: cpuSample() } satisfies FromServer);
    else process.exit(0);
  });
  process.send?.({ type: 'ready', port } satisfies FromServer);
}

// Load generator ----------------------------------------------------------------------------------

function maskedTextFrame(payload: Buffer): Buffer {
  if (payload.length >= 126) throw new RangeError('--size must be under 126 bytes');
  const mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/** Counts whole server frames in a byte stream (unmasked; payloads under 64 KiB). */
class EchoCounter {
  private pending: Buffer | null = null;
  frames = 0;
  rsv1 = 0;
  wireBytes = 0;

  push(chunk: Buffer): number {
    let data = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let count = 0;
    for (;;) {
      if (data.length < 2) break;
      const short = data[1]! & 0x7f;
      const header = short === 126 ? 4 : 2;
      if (short === 127) throw new Error('unexpected 64-bit length');
      if (data.length < header) break;
      const length = short === 126 ? data.readUInt16BE(2) : short;
      if (data.length < header + length) break;
      if ((data[0]! & 0x0f) === 0x1) {
        count++;
        if (data[0]! & 0x40) this.rsv1++;
        this.wireBytes += header + length;
      }
      data = data.subarray(header + length);
    }
    if (data.length > 0) this.pending = Buffer.from(data);
    this.frames += count;
    return count;
  }
}

function handshake(port: number, deflate: boolean): Promise<{ socket: Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(
        `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
          (deflate ? `Sec-WebSocket-Extensions: ${OFFER}\r\n` : '') +
          '\r\n',
      );
    });
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const text = head.subarray(0, end).toString('latin1');
      if (!text.startsWith('HTTP/1.1 101')) return reject(new Error(`no 101: ${text.split('\r\n')[0]}`));
      if (deflate !== /sec-websocket-extensions: permessage-deflate/i.test(text))
        return reject(new Error(`unexpected agreement: ${text}`));
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

interface Measurement {
  variant: string;
  echoesPerSecond: number;
  /** Server CPU per echo, microseconds. */
  serverUsPerEcho: number;
  /** Server CPU, fraction of a core. */
  serverCpu: number;
  /** The load generator's CPU (this process), fraction of a core. */
  generatorCpu: number;
  /** Share of echoes with RSV1 set. */
  rsv1Share: number;
  /** Payload + header bytes per echo on the wire. */
  wireBytesPerEcho: number;
}

interface Options {
  runs: number;
  seconds: number;
  warmup: number;
  connections: number;
  inFlight: number;
  size: number;
  variants: string[];
}

function ask(child: ChildProcess, command: ToServer): Promise<FromServer> {
  return new Promise((resolve) => {
    child.once('message', (m: FromServer) => resolve(m));
    child.send(command);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function measure(variant: string, o: Options, children: Set<ChildProcess>): Promise<Measurement> {
  const child = fork(process.argv[1]!, ['--server', variant], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  try {
    const [ready] = (await once(child, 'message')) as [FromServer];
    if (ready.type !== 'ready') throw new Error('server did not start');
    const text = Buffer.from('c #12AB34 311 200 17;'.padEnd(o.size, ' ').slice(0, o.size));
    const frame = maskedTextFrame(text);
    const batch = Buffer.concat(Array.from({ length: o.inFlight }, () => frame));
    const counters: EchoCounter[] = [];
    const sockets: Socket[] = [];
    for (let i = 0; i < o.connections; i++) {
      const { socket, rest } = await handshake(ready.port, VARIANTS[variant] !== false);
      const counter = new EchoCounter();
      counters.push(counter);
      sockets.push(socket);
      const onEchoes = (chunk: Buffer) => {
        const n = counter.push(chunk);
        if (n > 0) socket.write(batch.subarray(0, n * frame.length));
      };
      socket.on('data', onEchoes);
      socket.on('error', () => undefined);
      if (rest.length > 0) onEchoes(rest);
      socket.write(batch);
    }
    await sleep(o.warmup * 1000);
    const sum = (f: (c: EchoCounter) => number) => counters.reduce((a, c) => a + f(c), 0);
    const before = { frames: sum((c) => c.frames), rsv1: sum((c) => c.rsv1), bytes: sum((c) => c.wireBytes) };
    const cpu0 = (await ask(child, { type: 'cpu' })) as { sample: CpuSample };
    const generator0 = cpuSample();
    await sleep(o.seconds * 1000);
    const cpu1 = (await ask(child, { type: 'cpu' })) as { sample: CpuSample };
    const generatorCpu = cpuFraction(generator0, cpuSample());
    const echoes = sum((c) => c.frames) - before.frames;
    const rsv1 = sum((c) => c.rsv1) - before.rsv1;
    const bytes = sum((c) => c.wireBytes) - before.bytes;
    for (const s of sockets) s.destroy();
    const serverCpu = cpuFraction(cpu0.sample, cpu1.sample);
    const seconds = (cpu1.sample.at - cpu0.sample.at) / 1e6;
    const usedUs = cpu1.sample.user - cpu0.sample.user + (cpu1.sample.system - cpu0.sample.system);
    return {
      variant,
      echoesPerSecond: echoes / seconds,
      serverUsPerEcho: usedUs / Math.max(echoes, 1),
      serverCpu,
      generatorCpu,
      rsv1Share: rsv1 / Math.max(echoes, 1),
      wireBytesPerEcho: bytes / Math.max(echoes, 1),
    };
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
  }
}

/** Microseconds for a peer to read one echo of each kind (median of `runs` timings of 20,000). */
function peerReadCost(size: number, runs: number): string[][] {
  const text = Buffer.from('c #12AB34 311 200 17;'.padEnd(size, ' ').slice(0, size));
  const tail = Buffer.from([0x00, 0x00, 0xff, 0xff]);
  const stored = storeMessage(text);
  const deflated = deflateRawSync(text, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
  const zlib = (payload: Buffer) => () =>
    inflateRawSync(Buffer.concat([payload, tail]), { finishFlush: constants.Z_SYNC_FLUSH });
  const cases: [string, () => unknown][] = [
    ['plain (RSV1 clear): nothing to inflate', () => text],
    ['stored block, read by Conduit (no zlib)', () => unstoreMessage(stored)],
    ['stored block, read by zlib (ws, browsers, lws)', zlib(stored)],
    ['deflated message, read by zlib', zlib(deflated)],
  ];
  const n = 20_000;
  return cases.map(([name, f]) => {
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      for (let i = 0; i < 2000; i++) f();
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) f();
      times.push(Number(process.hrtime.bigint() - t) / 1000 / n);
    }
    return [name, formatNumber(median(times), 2)];
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      runs: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '20' },
      'in-flight': { type: 'string', default: '8' },
      size: { type: 'string', default: '21' },
      variants: { type: 'string', default: Object.keys(VARIANTS).join(',') },
    },
  });
  if (values.server !== undefined) return runServer(values.server);
  const o: Options = {
    runs: Number(values.runs),
    seconds: Number(values.seconds),
    warmup: Number(values.warmup),
    connections: Number(values.connections),
    inFlight: Number(values['in-flight']),
    size: Number(values.size),
    variants: values.variants.split(','),
  };
  for (const v of o.variants) if (!(v in VARIANTS)) throw new Error(`unknown variant ${v}`);
  const children = new Set<ChildProcess>();
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  const started = Date.now();
  const results = new Map<string, Measurement[]>(o.variants.map((v) => [v, []]));
  for (let run = 0; run < o.runs; run++) {
    // Rotate the order from run to run, so that no variant always goes first (or warm).
    const order = o.variants.map((_, i) => o.variants[(i + run) % o.variants.length]!);
    for (const variant of order) {
      const m = await measure(variant, o, children);
      results.get(variant)!.push(m);
      process.stderr.write(
        `run ${run + 1} ${variant}: ${formatNumber(m.echoesPerSecond)} echoes/s, ${formatNumber(m.serverUsPerEcho, 1)} us CPU/echo\n`,
      );
    }
  }
  const rows = o.variants.map((v) => {
    const ms = results.get(v)!;
    const pick = (f: (m: Measurement) => number) => median(ms.map(f));
    return [
      v,
      formatNumber(pick((m) => m.echoesPerSecond)),
      formatNumber(
        pick((m) => m.serverUsPerEcho),
        1,
      ),
      `${formatNumber(pick((m) => m.serverCpu) * 100)} %`,
      `${formatNumber(pick((m) => m.generatorCpu) * 100)} %`,
      `${formatNumber(pick((m) => m.rsv1Share) * 100)} %`,
      formatNumber(
        pick((m) => m.wireBytesPerEcho),
        1,
      ),
    ];
  });
  process.stdout.write(
    `Echo of ${o.size}-byte text messages, ${o.connections} connections x ${o.inFlight} in flight, ` +
      `offer "${OFFER}"; medians of ${o.runs} runs of ${o.seconds} s (${o.warmup} s warm-up); ` +
      `load average before: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; wall time ${Math.round((Date.now() - started) / 1000)} s\n\n`,
  );
  process.stdout.write(
    `${markdownTable(
      ['variant', 'echoes/s', 'server CPU us/echo', 'server CPU', 'generator CPU', 'RSV1', 'wire bytes/echo'],
      rows,
    )}\n\n`,
  );
  process.stdout.write(
    `What a peer pays to read one echo (us, median of ${o.runs} x 20,000):\n\n${markdownTable(['echo', 'us'], peerReadCost(o.size, o.runs))}\n`,
  );
}

main().then(
  () => undefined,
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
