/**
 * permessage-deflate against bad input, over real sockets: a raw TCP peer writes hand-made frames to a
 * Conduit server (compression bombs, corrupt DEFLATE data, RSV1 where it does not belong, invalid
 * UTF-8 inside compressed text, malformed offers), and a hand-written HTTP server answers the Conduit
 * client with invalid permessage-deflate responses. Memory is measured in a child process running the
 * server (test/support/deflate-server-child.ts), so the test's own allocations stay out of it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { constants, deflateRawSync } from 'node:zlib';
import {
  type ClientOptions,
  connect,
  HandshakeError,
  type WebSocketConnection,
  WebSocketServer,
  type WebSocketServerOptions,
} from '../../../src/index.js';
import { zlibLimiter } from '../../../src/pipeline/zlib-limiter.js';
import type { Stats } from '../../support/deflate-server-child.js';
import { clientFrame, closePayload } from '../../support/frames.js';
import { delay, within } from '../../support/interop/peers.js';

const CHILD = fileURLToPath(new URL('../../support/deflate-server-child.js', import.meta.url));

const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PMD = 'permessage-deflate';
const MiB = 1024 * 1024;
type Mode = 'shared' | 'dedicated';
const MODES: readonly Mode[] = ['shared', 'dedicated'];

/** RFC 7692 section 7.2.1: compress, sync flush, and drop the trailing 00 00 ff ff. */
function compress(data: Buffer | string, level = 6): Buffer {
  const input = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = deflateRawSync(input, { finishFlush: constants.Z_SYNC_FLUSH, level });
  assert.deepEqual([...out.subarray(-4)], [0x00, 0x00, 0xff, 0xff]);
  return out.subarray(0, -4);
}

/** Deterministic bytes that do not compress (so a few KiB of them take the thread-pool path). */
function noise(size: number, seed = 9): Buffer {
  const out = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * A DEFLATE stream of `size` bytes of noise made invalid after its first 16 KiB of good output. Noise
 * deflates to stored blocks (BTYPE 00, then LEN and its complement NLEN); the second block's NLEN is
 * broken. (Garbage written inside a stored block, or a stream cut short, would only be data.)
 */
function brokenInTheMiddle(size: number): Buffer {
  const stream = Buffer.from(compress(noise(size)));
  assert.equal(stream[0], 0x00, 'a stored block first');
  const second = 5 + stream.readUInt16LE(1);
  assert.ok(second + 5 < stream.length, 'a second block');
  stream[second + 3] = stream[second + 3]! ^ 0xff;
  return stream;
}

// A raw peer ----------------------------------------------------------------------------------

interface ServerFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/** The complete (unmasked) frames in what a server sent. */
function serverFrames(bytes: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1]! & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      if (offset + 2 > bytes.length) break;
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (offset + 8 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(offset));
      offset += 8;
    }
    if (offset + length > bytes.length) break;
    frames.push({
      fin: (bytes[at]! & 0x80) !== 0,
      rsv1: (bytes[at]! & 0x40) !== 0,
      opcode: bytes[at]! & 0x0f,
      payload: bytes.subarray(offset, offset + length),
    });
    at = offset + length;
  }
  return frames;
}

interface Peer {
  readonly socket: Socket;
  readonly head: string;
  frames(): ServerFrame[];
  /** Resolves when the server closed the TCP connection. */
  readonly closed: Promise<void>;
  /** Wait for the server's close frame; resolves with its code. */
  closeCode(ms?: number): Promise<number>;
  /** Wait for `n` data frames from the server. */
  dataFrames(n: number, ms?: number): Promise<ServerFrame[]>;
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** Complete a handshake over raw TCP, offering `extensions` (a header value) when given. */
function openPeer(port: number, extensions?: string): Promise<Peer> {
  const request =
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
    (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
    '\r\n';
  return within(
    5000,
    'a raw handshake',
    new Promise<Peer>((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(request));
      let buffered = Buffer.alloc(0);
      let head: string | null = null;
      let onClose: () => void = () => {};
      const closed = new Promise<void>((r) => {
        onClose = r;
      });
      const frames = () => serverFrames(buffered);
      const waitFor = <T>(what: string, ms: number, probe: () => T | undefined): Promise<T> =>
        within(
          ms,
          what,
          (async () => {
            for (;;) {
              const found = probe();
              if (found !== undefined) return found;
              await delay(2);
            }
          })(),
        );
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (head !== null) return;
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buffered.subarray(0, end + 4).toString('latin1');
        buffered = buffered.subarray(end + 4);
        resolve({
          socket,
          head,
          frames,
          closed,
          closeCode: (ms = 3000) =>
            waitFor('a close frame from the server', ms, () => {
              const close = frames().find((f) => f.opcode === CLOSE);
              if (close === undefined) return undefined;
              return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
            }),
          dataFrames: (n, ms = 3000) =>
            waitFor(`${n} data frame(s) from the server`, ms, () => {
              const data = frames().filter((f) => f.opcode < 8);
              return data.length >= n ? data : undefined;
            }),
        });
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (head === null) reject(error);
      });
      socket.on('close', () => {
        if (head === null) reject(new Error('closed before the 101'));
        onClose();
      });
    }),
  );
}

function extensionsOf(head: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith('sec-websocket-extensions:'));
  return line?.slice(line.indexOf(':') + 1).trim();
}

function statusOf(head: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
}

/** A Conduit echo server on an ephemeral port, closed by `use`'s end. */
async function withServer(
  options: Omit<WebSocketServerOptions, 'port' | 'host'>,
  use: (port: number, closes: number[]) => Promise<void>,
): Promise<void> {
  const server = new WebSocketServer({ closeTimeout: 1000, ...options, port: 0, host: '127.0.0.1' });
  const closes: number[] = [];
  server.on('connection', (conn) => {
    conn.on('message', (data, isBinary) => conn.send(isBinary ? data : data.toString('utf8')));
    conn.on('close', (code) => closes.push(code));
  });
  await within(5000, 'listening', new Promise<void>((r) => server.once('listening', r)));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  try {
    await use(address.port, closes);
  } finally {
    for (const client of server.clients) client.terminate();
    await within(5000, 'the server to close', server.close());
  }
}

/** Send `frames` on a fresh compressed connection; expect a close frame with `code` and TCP closed. */
async function expectFailure(port: number, offer: string | undefined, frames: Buffer[], code: number) {
  const peer = await openPeer(port, offer);
  try {
    for (const f of frames) peer.socket.write(f);
    assert.equal(await peer.closeCode(), code);
    await within(3000, 'the server to close TCP', peer.closed);
  } finally {
    peer.socket.destroy();
  }
}

/** Wait until the in-process zlib limiter is idle again. */
async function zlibIdle(): Promise<void> {
  await within(
    3000,
    'the zlib limiter to be idle',
    (async () => {
      while (zlibLimiter.stats.active !== 0 || zlibLimiter.stats.waiting !== 0) await delay(5);
    })(),
  );
}

// A server in a child process -----------------------------------------------------------------

interface Child {
  port: number;
  stats(): Promise<Stats>;
  stop(): Promise<void>;
}

async function startChild(mode: Mode, maxPayload: number): Promise<Child> {
  const child: ChildProcess = fork(CHILD, [JSON.stringify({ mode, maxPayload })], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await within(
    10_000,
    'the child server to listen',
    new Promise<number>((resolve, reject) => {
      child.once('message', (m: { type: string; port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`the child exited (${code})`)));
    }),
  );
  return {
    port,
    stats: () =>
      within(
        5000,
        'stats from the child',
        new Promise<Stats>((resolve) => {
          child.once('message', (m: Stats) => resolve(m));
          child.send({ type: 'stats' });
        }),
      ),
    stop: async () => {
      child.disconnect();
      try {
        await within(5000, 'the child to exit', exited);
      } catch {
        child.kill('SIGKILL');
      }
    },
  };
}

/** Poll the child until every connection has closed and zlib is idle. */
async function settled(child: Child, connections: number): Promise<Stats> {
  let last: Stats | undefined;
  await within(
    10_000,
    'the child server to settle',
    (async () => {
      for (;;) {
        last = await child.stats();
        if (last.closes.length >= connections && last.clients === 0 && last.zlib.active === 0) return;
        await delay(20);
      }
    })(),
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${JSON.stringify({ ...last, closes: last?.closes.length })}`);
  });
  return last!;
}

// ---------------------------------------------------------------------------------------------

describe('permessage-deflate: compression bombs', { timeout: 60_000 }, () => {
  /** 10 MiB of zeros compress to about 10 KiB: over the 8 KiB synchronous limit. */
  const bomb = compress(Buffer.alloc(10 * MiB), 9);
  /** 8 MiB compress to under 8 KiB: inflated synchronously in shared mode. */
  const smallBomb = compress(Buffer.alloc(8 * MiB), 9);

  for (const mode of MODES) {
    it(`closes with 1009 on ~10 MB-inflating messages against a 1 MiB maxPayload, the server's memory staying flat (${mode} mode)`, async () => {
      assert.ok(bomb.length > 8 * 1024 && bomb.length < 12 * 1024, `bomb of ${bomb.length} bytes`);
      assert.ok(smallBomb.length < 8 * 1024, `small bomb of ${smallBomb.length} bytes`);
      const child = await startChild(mode, MiB);
      try {
        // Warm up: a good compressed message both ways, so code and zlib are loaded before measuring.
        const warm = await openPeer(child.port, PMD);
        const hello = Buffer.from('warm up '.repeat(2000));
        warm.socket.write(clientFrame({ opcode: TEXT, rsv1: true, payload: compress(hello) }));
        const echoed = await warm.dataFrames(1);
        assert.equal(echoed[0]!.rsv1, true);
        warm.socket.write(clientFrame({ opcode: CLOSE, payload: closePayload(1000) }));
        await within(3000, 'the warm-up connection to close', warm.closed);
        const before = await settled(child, 1);

        const variants: Array<[string, Buffer[]]> = [
          ['one frame', [clientFrame({ opcode: BINARY, rsv1: true, payload: bomb })]],
          [
            'five fragments',
            [0, 1, 2, 3, 4].map((i) =>
              clientFrame({
                opcode: i === 0 ? TEXT : CONTINUATION,
                rsv1: i === 0,
                fin: i === 4,
                payload: bomb.subarray(
                  Math.floor((i * bomb.length) / 5),
                  Math.floor(((i + 1) * bomb.length) / 5),
                ),
              }),
            ),
          ],
          ['the synchronous path', [clientFrame({ opcode: BINARY, rsv1: true, payload: smallBomb })]],
        ];
        for (let round = 0; round < 3; round++) {
          for (const [name, frames] of variants) {
            const peer = await openPeer(child.port, PMD);
            try {
              for (const f of frames) peer.socket.write(f);
              assert.equal(await peer.closeCode(), 1009, `${name}: close code`);
              await within(3000, `${name}: the server to close TCP`, peer.closed);
            } finally {
              peer.socket.destroy();
            }
            // Each bomb leaves up to maxPayload of inflated output as garbage (collected, not kept);
            // a GC between bombs keeps nine of them from piling up before V8 gets to it, so the
            // peak measures what one bomb costs.
            await child.stats();
          }
        }
        const after = await settled(child, 1 + 3 * variants.length);
        assert.deepEqual(after.zlib, { active: 0, waiting: 0 });
        // A bomb inflated in full would take 10 MiB at least, nine times over.
        const grew = after.maxRss - before.maxRss;
        assert.ok(grew < 6 * MiB, `peak RSS grew by ${(grew / MiB).toFixed(1)} MiB`);
      } finally {
        await child.stop();
      }
    });
  }
});

describe('permessage-deflate: bad data from a raw peer', { timeout: 60_000 }, () => {
  for (const mode of MODES) {
    it(`closes with 1007 on corrupt DEFLATE data, small or large, first or after a good message (${mode} mode)`, async () => {
      await withServer({ perMessageDeflate: { mode } }, async (port) => {
        const good = compress('good message '.repeat(100));
        const broken = brokenInTheMiddle(30_000);
        const cases: Buffer[][] = [
          // Block type 3 (reserved): invalid from the first byte; small (synchronous path).
          [clientFrame({ opcode: TEXT, rsv1: true, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]) })],
          // Large: the thread-pool path.
          [
            clientFrame({
              opcode: BINARY,
              rsv1: true,
              payload: Buffer.concat([Buffer.from([0xff]), noise(20_000)]),
            }),
          ],
          [clientFrame({ opcode: BINARY, rsv1: true, payload: broken })],
          // After a good message (dedicated mode: with the context kept).
          [
            clientFrame({ opcode: TEXT, rsv1: true, payload: good }),
            clientFrame({ opcode: TEXT, rsv1: true, payload: Buffer.from([0xff, 0x00, 0x11]) }),
          ],
        ];
        for (const frames of cases) await expectFailure(port, PMD, frames, 1007);
      });
      await zlibIdle();
    });

    it(`closes with 1007 on invalid UTF-8 inside compressed text (${mode} mode)`, async () => {
      await withServer({ perMessageDeflate: { mode } }, async (port) => {
        const bad = Buffer.from([0x68, 0x69, 0xc3, 0x28]); // 0xc3 0x28: a broken 2-byte sequence
        const overlong = Buffer.concat([Buffer.from('x'.repeat(500)), Buffer.from([0xc0, 0xaf])]);
        // Large and not compressible: the thread-pool path, the invalid byte at the very end.
        const late = Buffer.concat([
          Buffer.from(noise(40_000).toString('base64')),
          Buffer.from([0xed, 0xa0, 0x80]),
        ]);
        const lateCompressed = compress(late);
        assert.ok(lateCompressed.length > 8 * 1024);
        const half = Math.floor(lateCompressed.length / 2);
        const cases: Buffer[][] = [
          [clientFrame({ opcode: TEXT, rsv1: true, payload: compress(bad) })],
          [clientFrame({ opcode: TEXT, rsv1: true, payload: compress(overlong) })],
          [clientFrame({ opcode: TEXT, rsv1: true, payload: lateCompressed })],
          [
            clientFrame({ opcode: TEXT, rsv1: true, fin: false, payload: lateCompressed.subarray(0, half) }),
            clientFrame({ opcode: CONTINUATION, payload: lateCompressed.subarray(half) }),
          ],
        ];
        for (const frames of cases) await expectFailure(port, PMD, frames, 1007);
        // The same text made valid is echoed: the failures above came from the UTF-8, not the framing.
        const peer = await openPeer(port, PMD);
        try {
          const fine = compress(Buffer.concat([late.subarray(0, -3), Buffer.from('\u20ac')]));
          const cut = Math.floor(fine.length / 2);
          peer.socket.write(
            clientFrame({ opcode: TEXT, rsv1: true, fin: false, payload: fine.subarray(0, cut) }),
          );
          peer.socket.write(clientFrame({ opcode: CONTINUATION, payload: fine.subarray(cut) }));
          const [echo] = await peer.dataFrames(1);
          assert.equal(echo!.opcode, TEXT);
          assert.equal(echo!.rsv1, true);
        } finally {
          peer.socket.destroy();
        }
      });
      await zlibIdle();
    });
  }

  it('closes with 1002 on a compressed control frame and on RSV1 on a continuation frame', async () => {
    await withServer({ perMessageDeflate: true }, async (port) => {
      const part = compress('fragmented and compressed '.repeat(50));
      await expectFailure(
        port,
        PMD,
        [clientFrame({ opcode: PING, rsv1: true, payload: compress('ping') })],
        1002,
      );
      await expectFailure(port, PMD, [clientFrame({ opcode: PING, rsv1: true })], 1002);
      await expectFailure(
        port,
        PMD,
        [
          clientFrame({ opcode: TEXT, rsv1: true, fin: false, payload: part.subarray(0, 10) }),
          clientFrame({ opcode: CONTINUATION, rsv1: true, payload: part.subarray(10) }),
        ],
        1002,
      );
      // RSV1 on a continuation of an uncompressed message.
      await expectFailure(
        port,
        PMD,
        [
          clientFrame({ opcode: TEXT, fin: false, payload: 'plain ' }),
          clientFrame({ opcode: CONTINUATION, rsv1: true, payload: compress('then compressed') }),
        ],
        1002,
      );
      // RSV2 and RSV3 stay reserved with permessage-deflate.
      await expectFailure(
        port,
        PMD,
        [clientFrame({ opcode: TEXT, rsv1: true, rsv2: true, payload: part })],
        1002,
      );
    });
  });

  it('closes with 1002 on RSV1 when compression was not negotiated', async () => {
    const frame = clientFrame({ opcode: TEXT, rsv1: true, payload: compress('not negotiated') });
    // The server has it off; the server has it on but the client offered nothing.
    await withServer({}, async (port) => {
      await expectFailure(port, PMD, [frame], 1002);
    });
    await withServer({ perMessageDeflate: true }, async (port) => {
      await expectFailure(port, undefined, [frame], 1002);
    });
  });
});

describe('permessage-deflate: offers a server must decline', { timeout: 30_000 }, () => {
  const declined = [
    `${PMD}; foo`,
    `${PMD}; unknown_param=1`,
    `${PMD}; server_no_context_takeover; server_no_context_takeover`,
    `${PMD}; client_max_window_bits=10; client_max_window_bits=11`,
    `${PMD}; server_max_window_bits=8`,
    `${PMD}; server_max_window_bits=16`,
    `${PMD}; server_max_window_bits=010`,
    `${PMD}; server_max_window_bits`,
    `${PMD}; client_max_window_bits=16`,
    `${PMD}; client_max_window_bits=0`,
    `${PMD}; server_no_context_takeover=1`,
    `${PMD}; client_no_context_takeover=true`,
    'x-webkit-deflate-frame',
  ];
  for (const mode of MODES) {
    it(`answers without Sec-WebSocket-Extensions, and the connection works uncompressed (${mode} mode)`, async () => {
      await withServer({ perMessageDeflate: { mode } }, async (port) => {
        for (const offer of declined) {
          const peer = await openPeer(port, offer);
          try {
            assert.equal(statusOf(peer.head), 101, offer);
            assert.equal(extensionsOf(peer.head), undefined, offer);
            const big = 'echo me uncompressed '.repeat(100);
            peer.socket.write(clientFrame({ opcode: TEXT, payload: big }));
            const [echo] = await peer.dataFrames(1);
            assert.deepEqual([echo!.rsv1, echo!.payload.toString()], [false, big], offer);
            // Compression is really off on this connection: RSV1 now fails it.
            peer.socket.write(clientFrame({ opcode: TEXT, rsv1: true, payload: compress(big) }));
            assert.equal(await peer.closeCode(), 1002, offer);
          } finally {
            peer.socket.destroy();
          }
        }
      });
    });
  }

  it('takes a later valid offer from the same header, and quoted values', async () => {
    await withServer({ perMessageDeflate: { mode: 'dedicated' } }, async (port) => {
      const cases: Array<[string, string]> = [
        [`${PMD}; foo=1, ${PMD}; server_max_window_bits=10`, `${PMD}; server_max_window_bits=10`],
        [
          `${PMD}; server_max_window_bits=16, ${PMD}; server_max_window_bits=8, ${PMD}; client_max_window_bits`,
          PMD,
        ],
        [`x-webkit-deflate-frame, ${PMD}; client_no_context_takeover`, `${PMD}; client_no_context_takeover`],
        [`${PMD}; server_max_window_bits="11"`, `${PMD}; server_max_window_bits=11`],
      ];
      for (const [offer, response] of cases) {
        const peer = await openPeer(port, offer);
        try {
          assert.equal(extensionsOf(peer.head), response, offer);
          const text = 'compressed echo '.repeat(200);
          peer.socket.write(clientFrame({ opcode: TEXT, rsv1: true, payload: compress(text) }));
          const [echo] = await peer.dataFrames(1);
          assert.equal(echo!.rsv1, true, offer);
        } finally {
          peer.socket.destroy();
        }
      }
    });
  });

  it('refuses a Sec-WebSocket-Extensions header that does not parse with 400', async () => {
    await withServer({ perMessageDeflate: true }, async (port) => {
      for (const header of [
        `${PMD}; server_max_window_bits="10`,
        `${PMD};; client_max_window_bits`,
        `${PMD} x`,
      ]) {
        const peer = await openPeer(port, header);
        try {
          assert.equal(statusOf(peer.head), 400, header);
        } finally {
          peer.socket.destroy();
        }
      }
    });
  });
});

describe('permessage-deflate: nothing leaks across many failed connections', { timeout: 60_000 }, () => {
  for (const mode of MODES) {
    it(`200 connections sending corrupt data leave no connection, zlib job or memory behind (${mode} mode)`, async () => {
      const child = await startChild(mode, MiB);
      try {
        const corrupt = [
          clientFrame({ opcode: BINARY, rsv1: true, payload: Buffer.from([0xff, 0xff, 0x00]) }),
          clientFrame({
            opcode: BINARY,
            rsv1: true,
            payload: brokenInTheMiddle(20_000),
          }),
        ];
        const good = clientFrame({
          opcode: TEXT,
          rsv1: true,
          payload: compress('a fine message '.repeat(200)),
        });
        const run = async (count: number) => {
          for (let batch = 0; batch < count; batch += 20) {
            await Promise.all(
              Array.from({ length: 20 }, async (_, i) => {
                const peer = await openPeer(child.port, PMD);
                try {
                  // A good message first (so an inflater and, in dedicated mode, a stream exist).
                  peer.socket.write(good);
                  await peer.dataFrames(1);
                  peer.socket.write(corrupt[(batch + i) % 2]!);
                  assert.equal(await peer.closeCode(), 1007);
                  await within(3000, 'the server to close TCP', peer.closed);
                } finally {
                  peer.socket.destroy();
                }
              }),
            );
          }
        };
        // Warm up: the first few hundred connections grow the heap once (optimised code, pools).
        await run(400);
        const before = await settled(child, 400);
        await run(200);
        const after = await settled(child, 600);
        assert.deepEqual(after.zlib, { active: 0, waiting: 0 });
        assert.equal(after.clients, 0);
        // What is still referenced: the V8 heap plus the native memory it is told of (Node reports
        // zlib contexts there). One leaked inflate context (~40 KiB) per connection would be 8 MiB.
        const kept = after.live - before.live;
        assert.ok(kept < 2 * MiB, `live memory grew by ${(kept / MiB).toFixed(2)} MiB over 200 connections`);
        // RSS also takes in the allocator settling (glibc arenas of the zlib threads): a looser bound,
        // still far below what 200 leaked compression contexts (50 MiB and more) would cost.
        const grew = after.rss - before.rss;
        assert.ok(grew < 20 * MiB, `RSS grew by ${(grew / MiB).toFixed(1)} MiB over 200 connections`);
      } finally {
        await child.stop();
      }
    });
  }
});

// The Conduit client against invalid responses ------------------------------------------------

interface RawHttpServer {
  port: number;
  /** Resolves once the client dropped the connection the server answered. */
  dropped: Promise<void>;
  close(): Promise<void>;
}

/** A server that answers every upgrade request with a 101 carrying `extensions` (if given). */
async function rawHttpServer(extensions: string | undefined): Promise<RawHttpServer> {
  const sockets = new Set<Socket>();
  let onDropped: () => void = () => {};
  const dropped = new Promise<void>((r) => {
    onDropped = r;
  });
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let request = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      request += chunk;
      if (!request.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key:\s*(\S+)/i.exec(request)?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n` +
          (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
          '\r\n',
      );
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      onDropped();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    dropped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('permessage-deflate: the Conduit client refuses invalid responses', { timeout: 30_000 }, () => {
  const cases: Array<{ name: string; response: string; options?: ClientOptions; error: RegExp }> = [
    {
      name: 'an unknown parameter',
      response: `${PMD}; foo=bar`,
      error: /invalid permessage-deflate parameters/,
    },
    {
      name: 'client_max_window_bits without a value',
      response: `${PMD}; client_max_window_bits`,
      error: /client_max_window_bits without a value/,
    },
    {
      name: 'server_max_window_bits above the offered value',
      response: `${PMD}; server_max_window_bits=12`,
      options: { perMessageDeflate: { serverMaxWindowBits: 10 } },
      error: /server_max_window_bits/,
    },
    {
      name: 'no server_max_window_bits when one was offered',
      response: PMD,
      options: { perMessageDeflate: { serverMaxWindowBits: 10 } },
      error: /server_max_window_bits/,
    },
    {
      name: 'client_max_window_bits above the offered value',
      response: `${PMD}; client_max_window_bits=12`,
      options: { perMessageDeflate: { clientMaxWindowBits: 10 } },
      error: /client_max_window_bits above/,
    },
    {
      name: 'a client window zlib cannot compress with (8)',
      response: `${PMD}; client_max_window_bits=8`,
      error: /8-bit window/,
    },
    { name: 'an extension that was not offered', response: 'x-webkit-deflate-frame', error: /not offered/ },
    {
      name: 'permessage-deflate when compression was not offered',
      response: PMD,
      options: { perMessageDeflate: false },
      error: /not offered/,
    },
    { name: 'permessage-deflate twice', response: `${PMD}, ${PMD}`, error: /permessage-deflate/ },
    {
      name: 'a duplicated parameter',
      response: `${PMD}; server_no_context_takeover; server_no_context_takeover`,
      error: /invalid permessage-deflate parameters/,
    },
    {
      name: 'a value on server_no_context_takeover',
      response: `${PMD}; server_no_context_takeover=1`,
      error: /invalid permessage-deflate parameters/,
    },
    {
      name: 'a window of 16',
      response: `${PMD}; server_max_window_bits=16`,
      error: /invalid permessage-deflate/,
    },
    { name: 'a header that does not parse', response: `${PMD}; =`, error: /Sec-WebSocket-Extensions/ },
  ];
  for (const c of cases) {
    it(`fails connect() on ${c.name} and drops the connection`, async () => {
      const server = await rawHttpServer(c.response);
      try {
        const error = await within(
          5000,
          'connect() to settle',
          connect(`ws://127.0.0.1:${server.port}/`, { ...c.options, handshakeTimeout: 4000 }).then(
            (conn: WebSocketConnection) => {
              conn.terminate();
              return null;
            },
            (e: unknown) => e,
          ),
        );
        assert.ok(error instanceof HandshakeError, `connect() should fail; got ${String(error)}`);
        assert.match(error.message, c.error);
        await within(3000, 'the client to drop the connection', server.dropped);
      } finally {
        await server.close();
      }
    });
  }

  it('accepts a valid response from the same hand-written server (the harness itself works)', async () => {
    const server = await rawHttpServer(`${PMD}; server_no_context_takeover; client_max_window_bits=10`);
    try {
      const conn = await within(5000, 'connect()', connect(`ws://127.0.0.1:${server.port}/`));
      assert.equal(conn.extensions, `${PMD}; server_no_context_takeover; client_max_window_bits=10`);
      conn.terminate();
    } finally {
      await server.close();
    }
  });
});
