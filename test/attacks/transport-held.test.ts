/**
 * Transport attacks that already hold against `conduit serve`'s composition (startServer with the
 * CLI's defaults, in this process): each asserts its bound in numbers, taken from the code, and that a
 * legitimate client gets its echo on /echo within a second while the attack is on. Every attack is
 * bounded in time (a few seconds) and its clients write only as fast as the server takes their bytes
 * (they respect their own 'drain'), so this process's memory is the server's.
 *
 * The bounds relied on:
 * - maxPayload 16 MiB (DEFAULT_MAX_PAYLOAD, src/protocol/ws/connection.ts; `conduit serve
 *   --max-payload`) applies to the inflated size; the thread-pool inflater holds at most that plus
 *   one zlib chunk (16 KiB) per message before it fails it with 1009 (src/pipeline/inflater.ts), and
 *   only messages of over 8 KiB compressed go there (syncLimit 64 KiB / 8), at most 10 at a time
 *   process-wide (zlib limiter, src/pipeline/zlib-limiter.ts).
 * - highWaterMark 1 MiB (DEFAULT_HIGH_WATER_MARK, src/transports/ws/connection.ts): a server
 *   connection with more than that waiting to be sent stops reading (pauseOnBackpressure, on for
 *   servers) until it drains; judged a tick after the write that passed it, so one read's worth of
 *   answers (a 64 KiB socket read) or one echoed message may come on top.
 *   The mark counts bytes: each pending socket write also costs ~120 bytes of bookkeeping, which
 *   matters for tiny frames (pongs).
 * - broadcastBacklogLimit 8 MiB (src/server/serve.ts): a /broadcast client with more unsent than that
 *   is closed with 1008 at the next broadcast instead of being buffered without bound; its backlog
 *   stays until the peer answers the close or the close timeout (30 s, DEFAULT_CLOSE_TIMEOUT in
 *   src/transports/ws/connection.ts) destroys the socket.
 *
 * A flood of pings from a client that never reads: at most one pong waits (RFC 6455 section 5.5.3), so
 * it costs reading only (before: one socket write per pong, 512 Ki 2-byte writes, ~60 MiB live).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { constants, createDeflateRaw } from 'node:zlib';
import WebSocket from 'ws';
import { DEFAULT_MAX_PAYLOAD } from '../../src/protocol/ws/connection.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import type { WebSocketConnection } from '../../src/transports/ws/connection.js';
import { echoLatency, gc } from '../support/attack.js';
import { decodeClose, decodeFrames, encodeFrame } from '../support/frames.js';
import { delay, within } from '../support/interop/peers.js';
import { until } from '../support/until.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** src/transports/ws/connection.ts, DEFAULT_HIGH_WATER_MARK. */
const HIGH_WATER_MARK = 1 * MiB;
/** src/server/serve.ts, broadcastBacklogLimit's default. */
const BROADCAST_BACKLOG_LIMIT = 8 * MiB;
/** The most one socket read hands the parser (libuv reads 64 KiB at a time). */
const ONE_READ = 64 * KiB;
/** One zlib output chunk (src/pipeline/inflater.ts: "maxPayload plus one zlib chunk"). */
const ZLIB_CHUNK = 16 * KiB;
const ZERO_KEY = Uint8Array.of(0, 0, 0, 0);
/** Nothing drained for this long: the server stopped reading (a busy one drains far more often). */
const STALLED_MS = 800;

/** `conduit serve`'s composition on a free port, with the CLI's defaults (no demo feed: noise). */
function startTarget(): Promise<RunningServer> {
  return startServer({ port: 0, demo: false });
}

/** A masked client frame (key 0: the bytes go as they are). */
function clientFrame(opcode: number, payload: Uint8Array, rsv1 = false): Buffer {
  return encodeFrame({ opcode, payload, mask: ZERO_KEY, rsv1 });
}

/** A raw TCP connection that completed a WebSocket handshake on `path`; bytes after the 101 kept. */
function rawWebSocket(
  port: number,
  path: string,
  extensions?: string,
): Promise<{ socket: Socket; response: string; rest: Buffer }> {
  const request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
    (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
    '\r\n';
  return within(
    5000,
    `a raw handshake on ${path}`,
    new Promise((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(request));
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const response = head.subarray(0, end).toString('latin1');
        if (!response.startsWith('HTTP/1.1 101')) reject(new Error(`no 101: ${response.split('\r\n')[0]}`));
        else resolve({ socket, response, rest: head.subarray(end + 4) });
      };
      socket.on('data', onData);
      socket.once('error', reject);
    }),
  );
}

/** The server's side of the next connection on a route (registered before the client connects). */
function nextServerConnection(
  server: RunningServer,
  route: 'echo' | 'broadcast',
): Promise<WebSocketConnection> {
  return within(
    5000,
    `the server side of a /${route} connection`,
    new Promise((resolve) => server[route].once('connection', (conn) => resolve(conn))),
  );
}

/**
 * Write `frame` up to `count` times as fast as the server takes it, never holding more than the
 * socket's own buffer here; stops at `count`, at `ms`, or when nothing drained for STALLED_MS (the server
 * stopped reading: TCP flow control holds the rest). Resolves with how many went out.
 */
function flood(
  socket: Socket,
  frame: Buffer,
  count: number,
  ms: number,
): Promise<{ written: number; stalled: boolean }> {
  return new Promise((resolve) => {
    const batch = Buffer.concat(
      Array.from({ length: Math.max(1, Math.floor(ONE_READ / frame.length)) }, () => frame),
    );
    const perBatch = batch.length / frame.length;
    let written = 0;
    let stallTimer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => finish(false), ms);
    const finish = (stalled: boolean) => {
      clearTimeout(deadline);
      clearTimeout(stallTimer);
      socket.off('drain', pump);
      resolve({ written, stalled });
    };
    const pump = () => {
      clearTimeout(stallTimer);
      while (written < count) {
        const n = Math.min(perBatch, count - written);
        const ok = socket.write(n === perBatch ? batch : batch.subarray(0, n * frame.length));
        written += n;
        if (!ok) {
          stallTimer = setTimeout(() => finish(true), STALLED_MS);
          return;
        }
      }
      finish(false);
    };
    socket.on('drain', pump);
    socket.on('error', () => undefined);
    pump();
  });
}

async function assertEchoWithinASecond(server: RunningServer, during: string): Promise<void> {
  const ms = await echoLatency(server.url);
  assert.ok(ms < 1000, `a legitimate echo took ${ms.toFixed(0)} ms during ${during}`);
}

/** V8 heap in use + ArrayBuffers (Buffers live outside the heap). */
function level(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * What is still reachable: the level after two full collections a moment apart (a Buffer's memory
 * goes back after the collection that found it unreachable, not during it).
 */
async function liveBytes(): Promise<number> {
  gc();
  await delay(20);
  gc();
  return level();
}

/**
 * The process's peak level above the start's, sampled every 5 ms (garbage included: for transient
 * allocations such as a bomb's inflation in progress).
 */
function memoryPeak(): { stop(): number } {
  const base = level();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, level());
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, level()) - base;
    },
  };
}

/** permessage-deflate payload (section 7.2.1: sync flush, tail removed) of `size` zero bytes. */
async function zeroBomb(size: number): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (c: Buffer) => chunks.push(c));
  const zeros = Buffer.alloc(MiB);
  for (let left = size; left > 0; left -= MiB) deflate.write(left >= MiB ? zeros : zeros.subarray(0, left));
  await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
  deflate.close();
  const out = Buffer.concat(chunks);
  assert.deepEqual([...out.subarray(-4)], [0, 0, 0xff, 0xff]);
  return out.subarray(0, -4);
}

function closeCodeIn(bytes: Buffer): number | undefined {
  const close = decodeFrames(bytes).find((f) => f.opcode === 8);
  return close === undefined ? undefined : decodeClose(close.payload).code;
}

const mib = (n: number) => `${(n / MiB).toFixed(2)} MiB`;

describe('transport attacks that hold against conduit serve', { timeout: 60_000 }, () => {
  it('closes with 1009 each connection that sends a 64 MiB deflate bomb (64 KiB on the wire), holding at most maxPayload per bomb', async (t) => {
    const BOMBS = 4;
    const INFLATED = 64 * MiB;
    const bomb = await zeroBomb(INFLATED);
    // Over 8 KiB compressed: the thread-pool inflater, the one that accumulates output.
    assert.ok(bomb.length > 8 * KiB && bomb.length < 128 * KiB, `bomb of ${bomb.length} bytes`);
    const frame = clientFrame(0x2, bomb, true);
    const server = await startTarget();
    const sockets: Socket[] = [];
    try {
      const opened = await Promise.all(
        Array.from({ length: BOMBS }, () =>
          rawWebSocket(server.port, '/echo', 'permessage-deflate; client_no_context_takeover'),
        ),
      );
      for (const { socket, response } of opened) {
        sockets.push(socket);
        assert.match(response, /sec-websocket-extensions: permessage-deflate/i);
      }
      const received = opened.map(({ socket, rest }) => {
        const chunks = [rest];
        socket.on('data', (c: Buffer) => chunks.push(c));
        return { chunks, closed: once(socket, 'close') };
      });
      const base = await liveBytes();
      const memory = memoryPeak();
      for (const { socket } of opened) socket.write(frame);
      await assertEchoWithinASecond(server, 'four deflate bombs');
      await within(5000, 'every bomb connection to close', Promise.all(received.map((r) => r.closed)));
      const peak = memory.stop();
      for (const r of received) assert.equal(closeCodeIn(Buffer.concat(r.chunks)), 1009);
      const left = (await liveBytes()) - base;
      assert.ok(left < 2 * MiB, `${mib(left)} still held after the bombs`);
      // Each bomb costs at most maxPayload + one zlib chunk (+ its compressed input and the copy with
      // the tail), never its inflated 64 MiB; 16 MiB for the rest (the legitimate client, garbage).
      const bound = BOMBS * (DEFAULT_MAX_PAYLOAD + ZLIB_CHUNK + 2 * bomb.length) + 16 * MiB;
      assert.ok(peak < bound, `peak ${mib(peak)} over the bound ${mib(bound)}`);
      assert.ok(peak < BOMBS * INFLATED, 'less than the bombs would inflate to');
      t.diagnostic(`peak ${mib(peak)} (bound ${mib(bound)}), ${mib(left)} left after`);
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });

  // RFC 6455 section 5.5.3 allows answering only the latest ping while earlier pongs wait: the server
  // keeps 16 pongs on their way at most, so a flood costs reading and nothing that piles up.
  for (const payload of [0, 125]) {
    const pong = 2 + payload;
    const name = `answers a flood of ${payload}-byte pings from a client that never reads with at most 16 pongs on their way`;
    it(name, async (t) => {
      const server = await startTarget();
      const serverSide = nextServerConnection(server, 'echo');
      const { socket } = await rawWebSocket(server.port, '/echo');
      try {
        socket.pause(); // never reads: the pongs stay in the kernel, then a few wait in the server
        const conn = await serverSide;
        let pings = 0;
        let maxBuffered = 0;
        conn.on('ping', () => {
          pings++;
          maxBuffered = Math.max(maxBuffered, conn.bufferedAmount);
        });
        const before = await liveBytes();
        const frame = clientFrame(0x9, Buffer.alloc(payload, 0x70));
        const { written } = await flood(socket, frame, Math.ceil(8e6 / frame.length), 4000);
        await delay(300);
        const held = (await liveBytes()) - before;
        assert.ok(pings > 0.9 * written, `${pings} of ${written} pings read: the server kept reading`);
        // 16 pongs handed to the socket (MAX_PONGS_IN_FLIGHT) and one waiting behind them, at most.
        assert.ok(maxBuffered <= 17 * pong, `${maxBuffered} bytes buffered for the flooder`);
        assert.ok(held < 4 * MiB, `${mib(held)} live for the flooder`);
        t.diagnostic(`${pings} of ${written} pings read; max buffered ${maxBuffered} B; ${mib(held)} live`);
        await assertEchoWithinASecond(server, 'a ping flood');
      } finally {
        socket.destroy();
        await server.close();
      }
    });
  }

  it('stops reading from a client that sends 256 KiB messages to /echo and never reads, with at most highWaterMark + one echo buffered', async (t) => {
    const SIZE = 256 * KiB;
    const server = await startTarget();
    const serverSide = nextServerConnection(server, 'echo');
    const { socket } = await rawWebSocket(server.port, '/echo');
    try {
      socket.pause();
      const conn = await serverSide;
      let messages = 0;
      let maxBuffered = 0;
      // Registered after serve's echo handler: runs right after the echo was sent.
      conn.on('message', () => {
        messages++;
        maxBuffered = Math.max(maxBuffered, conn.bufferedAmount);
      });
      const before = await liveBytes();
      const { written, stalled } = await flood(socket, clientFrame(0x2, Buffer.alloc(SIZE, 0x61)), 400, 4000);
      const held = (await liveBytes()) - before;
      assert.ok(stalled, `the server kept reading: ${written} messages written, ${messages} echoed`);
      assert.equal(conn.backpressured, true);
      const atStall = messages;
      await delay(200);
      assert.equal(messages, atStall, 'the server stopped reading');
      assert.ok(messages < written, `${messages} of ${written} messages echoed`);
      const bound = HIGH_WATER_MARK + SIZE + ONE_READ;
      assert.ok(maxBuffered <= bound, `${mib(maxBuffered)} buffered, over ${mib(bound)}`);
      // Live while the flooder is held: the echoes waiting, at most one message being assembled and
      // this test's frame (one buffer, written again and again); not the 100 MB of the whole flood.
      assert.ok(held < bound + SIZE + MiB, `${mib(held)} held for the flooder`);
      t.diagnostic(`${messages} of ${written} echoed; max buffered ${mib(maxBuffered)}; ${mib(held)} live`);
      await assertEchoWithinASecond(server, 'a held /echo flood');
    } finally {
      socket.destroy();
      await server.close();
    }
  });

  it('closes with 1008 a /broadcast client that never reads once its backlog passes 8 MiB', async (t) => {
    const SIZE = 64 * KiB;
    const MESSAGES = 400; // 25 MiB to the slow client if nothing bounded it
    const server = await startTarget();
    const slowSide = nextServerConnection(server, 'broadcast');
    const { socket: slow } = await rawWebSocket(server.port, '/broadcast');
    slow.pause();
    const slowConn = await slowSide;
    const senderSide = nextServerConnection(server, 'broadcast');
    const sender = new WebSocket(`${server.url.replace(/^http/, 'ws')}/broadcast`, {
      perMessageDeflate: false,
    });
    sender.on('error', () => undefined);
    try {
      await within(5000, 'the sender to open', once(sender, 'open'));
      const senderConn = await senderSide;
      let maxBacklog = 0;
      let shedAt = -1;
      let broadcasts = 0;
      // Registered after serve's handler: runs right after each broadcast went to every client.
      senderConn.on('message', () => {
        broadcasts++;
        maxBacklog = Math.max(maxBacklog, slowConn.bufferedAmount);
        if (shedAt < 0 && slowConn.readyState !== 1) shedAt = broadcasts;
      });
      let echoed = 0;
      sender.on('message', () => {
        echoed++;
      });
      const before = await liveBytes();
      const text = 'x'.repeat(SIZE);
      // In rounds of 16, each after the previous round came back: the sender reads, the slow client
      // does not.
      let sent = 0;
      while (sent < MESSAGES && shedAt < 0) {
        for (let i = 0; i < 16; i++) sender.send(text);
        sent += 16;
        await until(() => echoed >= sent, `broadcast ${sent} back at its sender`, 5000);
      }
      const held = (await liveBytes()) - before;
      assert.ok(shedAt >= 0, `never closed after ${broadcasts} broadcasts (${mib(maxBacklog)} backlog)`);
      assert.equal(slowConn.readyState, 2, 'closing: 1008 sent, waiting for the peer');
      const bound = BROADCAST_BACKLOG_LIMIT + SIZE + 16;
      assert.ok(maxBacklog <= bound, `backlog ${mib(maxBacklog)} over ${mib(bound)}`);
      assert.ok(
        maxBacklog > BROADCAST_BACKLOG_LIMIT - SIZE,
        `backlog ${mib(maxBacklog)}: the limit was reached`,
      );
      // Live after the shedding: the shed client's backlog (its socket ends once the peer answers the
      // close or the close timeout passes), and 1 MiB for the rest.
      assert.ok(held < bound + MiB, `${mib(held)} held`);
      t.diagnostic(`shed at broadcast ${shedAt}; max backlog ${mib(maxBacklog)}; ${mib(held)} live`);
      await assertEchoWithinASecond(server, 'a shed /broadcast client');
      // The close frame waits behind the backlog: read it all, and find 1008.
      const chunks: Buffer[] = [];
      slow.on('data', (c: Buffer) => chunks.push(c));
      slow.resume();
      await within(
        10_000,
        'the close frame behind the backlog',
        until(
          () => {
            const bytes = Buffer.concat(chunks);
            return bytes.length > 0 && bytes.includes(Buffer.from('too slow'));
          },
          'the close frame',
          10_000,
        ),
      );
    } finally {
      sender.terminate();
      slow.destroy();
      await server.close();
    }
  });
});
