/**
 * Interop: permessage-deflate (RFC 7692) between Conduit and the `ws` package, both ways, over real
 * sockets. For every parameter combination ws can offer or answer, and in both of Conduit's memory
 * modes: the negotiated Sec-WebSocket-Extensions on both ends, messages of every size (empty to
 * 1 MiB, text with multibyte UTF-8 and binary) echoed intact and in order, and, read off the wire, RSV1
 * on exactly the frames that carry compressed messages. The payloads repeat content from further back
 * than a 9-bit window reaches, so a side compressing with a window or a context it did not agree on
 * produces data the other cannot inflate.
 *
 * ws compresses everything it sends (threshold 0); Conduit keeps its defaults, so the wire shows
 * them: every message flagged compressed, those under 1024 bytes in stored blocks when Conduit's side
 * resets its context (PerMessageDeflateOptions.shortMessages), deflated otherwise.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  connect,
  type FrameInfo,
  type PerMessageDeflateOptions,
  type WebSocketConnection,
} from '../../src/index.js';
import {
  burstMessages,
  type Collector,
  collector,
  compressibleBytes,
  compressibleText,
  extensionParams,
  mismatches,
  sizedMessages,
  type TestMessage,
} from '../support/interop/deflate-data.js';
import { dataFrames, headerIn, listenTap } from '../support/interop/frame-tap.js';
import {
  closeOfConduit,
  closeOfWs,
  listenConduit,
  listenWs,
  toBuffer,
  within,
} from '../support/interop/peers.js';

type Mode = 'shared' | 'dedicated';
const MODES: readonly Mode[] = ['shared', 'dedicated'];
const THRESHOLD = 1024; // Conduit's default
const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const PING = 0x9;

/** Every size, text and binary, then a burst of 60 messages around the threshold. */
const SIZED: readonly TestMessage[] = sizedMessages();
const BURST: readonly TestMessage[] = burstMessages(60);
const MESSAGES: readonly TestMessage[] = [...SIZED, ...BURST];

/**
 * Send every size one at a time (each after the previous echo), then the burst without waiting: many
 * messages in flight at once, whose order must hold. (Sending the 1 MiB messages back to back is the
 * backpressure tests' business, below.)
 */
async function exchange(send: (m: TestMessage) => void, got: Collector): Promise<void> {
  let n = 0;
  for (const m of SIZED) {
    send(m);
    await got.until(++n);
  }
  for (const m of BURST) send(m);
  await got.until(n + BURST.length);
}

/** A ws client that also reports the 101's Sec-WebSocket-Extensions. */
function openWsClient(
  url: string,
  options: WebSocket.ClientOptions,
): Promise<{ ws: WebSocket; response: string | undefined }> {
  const ws = new WebSocket(url, options);
  let response: string | undefined;
  ws.once('upgrade', (res: IncomingMessage) => {
    response = res.headers['sec-websocket-extensions'];
  });
  return within(
    5000,
    `a ws client to open ${url}`,
    new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.off('error', reject);
        ws.on('error', () => {}); // failures show as close codes
        resolve({ ws, response });
      });
      ws.once('error', reject);
    }),
  );
}

function wsSend(ws: WebSocket, m: TestMessage): void {
  ws.send(m.data, { binary: typeof m.data !== 'string' });
}

/** Whether Conduit sends this message in stored blocks with its defaults. */
function storedByConduit(m: TestMessage, ownNoContextTakeover: boolean): boolean {
  return ownNoContextTakeover && m.size < THRESHOLD;
}

/**
 * [RSV1, payload length or 'deflated'] of each message Conduit sends with its defaults: RSV1 on every
 * one; under the 1024-byte threshold, when its own side resets its context, a stored block (the size
 * plus 6 bytes, 1 byte for an empty message); otherwise deflated (threshold 0 with context takeover).
 */
function expectedConduitFrames(
  messages: readonly TestMessage[],
  ownNoContextTakeover: boolean,
): [boolean, number | 'deflated'][] {
  return messages.map((m) => [
    true,
    storedByConduit(m, ownNoContextTakeover) ? (m.size === 0 ? 1 : m.size + 6) : 'deflated',
  ]);
}

/** The same read off the wire, for comparison with expectedConduitFrames. */
function conduitFrames(
  frames: readonly { rsv1: boolean; length: number }[],
  messages: readonly TestMessage[],
  ownNoContextTakeover: boolean,
): [boolean, number | 'deflated'][] {
  return frames.map((f, i) => [
    f.rsv1,
    storedByConduit(messages[i]!, ownNoContextTakeover) ? f.length : 'deflated',
  ]);
}

/** Compressed text over the threshold really came out smaller (not only flagged). */
function compressedTextShrank(messages: readonly TestMessage[], lengths: readonly number[]): string[] {
  const bad: string[] = [];
  messages.forEach((m, i) => {
    if (typeof m.data === 'string' && m.size >= THRESHOLD && !((lengths[i] ?? Infinity) < m.size))
      bad.push(`${m.label}: ${lengths[i]} bytes on the wire`);
  });
  return bad;
}

// ---------------------------------------------------------------------------------------------
// ws client -> Conduit server

interface ClientCase {
  name: string;
  /** ws's perMessageDeflate options (what it offers). */
  ws: WebSocket.PerMessageDeflateOptions;
  /** Conduit server options besides the mode. */
  conduit?: Omit<PerMessageDeflateOptions, 'mode'>;
  /** The offer ws sends. */
  offer: string;
  /** Conduit's answer, per mode. */
  response: Record<Mode, string>;
}

const PMD = 'permessage-deflate';
const BOTH_NCT = `${PMD}; server_no_context_takeover; client_no_context_takeover`;

const CLIENT_CASES: ClientCase[] = [
  {
    name: 'the defaults (client_max_window_bits without a value)',
    ws: {},
    offer: `${PMD}; client_max_window_bits`,
    response: { shared: BOTH_NCT, dedicated: PMD },
  },
  {
    name: 'server_no_context_takeover',
    ws: { serverNoContextTakeover: true },
    offer: `${PMD}; server_no_context_takeover; client_max_window_bits`,
    response: { shared: BOTH_NCT, dedicated: `${PMD}; server_no_context_takeover` },
  },
  {
    name: 'client_no_context_takeover',
    ws: { clientNoContextTakeover: true },
    offer: `${PMD}; client_no_context_takeover; client_max_window_bits`,
    response: { shared: BOTH_NCT, dedicated: `${PMD}; client_no_context_takeover` },
  },
  {
    name: 'both no_context_takeover',
    ws: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    offer: `${BOTH_NCT}; client_max_window_bits`,
    response: { shared: BOTH_NCT, dedicated: BOTH_NCT },
  },
  ...[9, 12, 15].map(
    (bits): ClientCase => ({
      name: `server_max_window_bits=${bits}`,
      ws: { serverMaxWindowBits: bits },
      offer: `${PMD}; server_max_window_bits=${bits}; client_max_window_bits`,
      response: {
        shared: `${BOTH_NCT}; server_max_window_bits=${bits}`,
        dedicated: `${PMD}; server_max_window_bits=${bits}`,
      },
    }),
  ),
  ...[9, 12, 15].map(
    (bits): ClientCase => ({
      name: `client_max_window_bits=${bits}`,
      ws: { clientMaxWindowBits: bits },
      offer: `${PMD}; client_max_window_bits=${bits}`,
      response: {
        shared: `${BOTH_NCT}; client_max_window_bits=${bits}`,
        dedicated: `${PMD}; client_max_window_bits=${bits}`,
      },
    }),
  ),
  {
    name: 'no client_max_window_bits at all',
    // ws offers no client_max_window_bits when the option is false (its typings say number only).
    ws: { clientMaxWindowBits: false as unknown as number },
    offer: PMD,
    response: { shared: BOTH_NCT, dedicated: PMD },
  },
  {
    name: 'every parameter (windows 10 and 11)',
    ws: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 11,
    },
    offer: `${BOTH_NCT}; server_max_window_bits=10; client_max_window_bits=11`,
    response: {
      shared: `${BOTH_NCT}; server_max_window_bits=10; client_max_window_bits=11`,
      dedicated: `${BOTH_NCT}; server_max_window_bits=10; client_max_window_bits=11`,
    },
  },
  {
    name: 'the defaults, to a Conduit server limiting both windows to 9 bits',
    ws: {},
    conduit: { serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
    offer: `${PMD}; client_max_window_bits`,
    response: {
      shared: `${BOTH_NCT}; server_max_window_bits=9; client_max_window_bits=9`,
      dedicated: `${PMD}; server_max_window_bits=9; client_max_window_bits=9`,
    },
  },
];

describe('permessage-deflate: a ws client and a Conduit server', { timeout: 120_000 }, () => {
  for (const c of CLIENT_CASES) {
    for (const mode of MODES) {
      it(`ws offering ${c.name}, Conduit in ${mode} mode: agrees on "${c.response[mode]}" and echoes every size compressed, in order`, async () => {
        const server = await listenConduit({ perMessageDeflate: { mode, ...c.conduit } });
        const tap = await listenTap(server.port);
        let ws: WebSocket | undefined;
        try {
          const opened = await openWsClient(tap.url, { perMessageDeflate: { ...c.ws, threshold: 0 } });
          ws = opened.ws;
          const { conn } = await server.nextConnection();
          // The handshake as each end sees it, and as it crossed the wire.
          assert.equal(headerIn(tap.last().requestHead, 'Sec-WebSocket-Extensions'), c.offer);
          assert.equal(opened.response, c.response[mode], 'the 101 ws received');
          assert.equal(conn.extensions, c.response[mode], 'the Conduit connection');
          assert.equal(ws.extensions, PMD, 'ws agreed to permessage-deflate');

          const got = collector();
          ws.on('message', (data, isBinary) => got.push({ data: toBuffer(data), isBinary }));
          await exchange((m) => wsSend(ws!, m), got);
          assert.deepEqual(mismatches(MESSAGES, got.received), []);

          const wire = tap.last();
          const up = dataFrames(wire.toServer);
          const down = dataFrames(wire.toClient);
          assert.deepEqual(
            up.map((f) => [f.opcode, f.fin, f.rsv1]),
            MESSAGES.map((m) => [typeof m.data === 'string' ? TEXT : BINARY, true, true]),
            'ws compressed every message (RSV1 set)',
          );
          const serverNct = c.response[mode].includes('server_no_context_takeover');
          assert.deepEqual(
            conduitFrames(down, MESSAGES, serverNct),
            expectedConduitFrames(MESSAGES, serverNct),
            'Conduit set RSV1 on every message, short ones in stored blocks when it resets its context',
          );
          assert.equal([...wire.toServer, ...wire.toClient].filter((f) => f.rsv2 || f.rsv3).length, 0);
          assert.deepEqual(
            compressedTextShrank(
              MESSAGES,
              down.map((f) => f.length),
            ),
            [],
          );

          const serverClosed = closeOfConduit(conn);
          const clientClosed = closeOfWs(ws);
          ws.close(1000, 'done');
          assert.equal((await clientClosed).code, 1000);
          assert.deepEqual(await serverClosed, { code: 1000, reason: 'done', wasClean: true });
        } finally {
          ws?.terminate();
          await tap.close();
          await server.close();
        }
      });
    }
  }

  for (const mode of MODES) {
    it(`takes fragmented compressed messages from ws (RSV1 on the first frame only, a ping in between), Conduit in ${mode} mode`, async () => {
      const server = await listenConduit({ perMessageDeflate: { mode } });
      const tap = await listenTap(server.port);
      let ws: WebSocket | undefined;
      try {
        ({ ws } = await openWsClient(tap.url, { perMessageDeflate: { threshold: 0 } }));
        const { conn } = await server.nextConnection();
        const got = collector();
        ws.on('message', (data, isBinary) => got.push({ data: toBuffer(data), isBinary }));
        const pongs: Buffer[] = [];
        ws.on('pong', (payload) => pongs.push(payload));

        // A text whose 3-byte euro sign is split across two fragments, and a 1 MiB binary message in
        // 8 fragments; the same text again, unfragmented, then fragmented again (context takeover
        // continues across fragmented messages in dedicated mode).
        const text = `${compressibleText(6000, 3)}\u20ac${compressibleText(6000, 4)}`;
        const textBytes = Buffer.from(text, 'utf8');
        const euro = 6000; // the byte offset of the euro sign between the two halves
        assert.equal(textBytes.subarray(euro, euro + 3).toString('utf8'), '\u20ac');
        const textCuts = [0, 1500, euro + 1, euro + 2, 9000, textBytes.length];
        const binary = compressibleBytes(1024 * 1024, 5);
        const sendFragments = (bytes: Buffer, cuts: number[], isText: boolean) => {
          for (let i = 0; i + 1 < cuts.length; i++) {
            const fin = i + 2 === cuts.length;
            ws!.send(bytes.subarray(cuts[i], cuts[i + 1]), { binary: !isText, fin, compress: true });
            if (i === 1) ws!.ping('between fragments');
          }
        };
        const binaryCuts = Array.from({ length: 9 }, (_, i) => i * 128 * 1024);
        sendFragments(textBytes, textCuts, true);
        sendFragments(binary, binaryCuts, false);
        ws.send(text);
        sendFragments(textBytes, textCuts, true);
        await got.until(4);
        const sent: TestMessage[] = [
          { data: text, size: textBytes.length, label: 'fragmented text' },
          { data: binary, size: binary.length, label: 'fragmented binary' },
          { data: text, size: textBytes.length, label: 'whole text' },
          { data: text, size: textBytes.length, label: 'fragmented text again' },
        ];
        assert.deepEqual(mismatches(sent, got.received), []);
        await within(
          2000,
          'the pongs',
          (async () => {
            while (pongs.length < 3) await new Promise((r) => setTimeout(r, 5));
          })(),
        );
        assert.deepEqual(
          pongs.map((p) => p.toString()),
          ['between fragments', 'between fragments', 'between fragments'],
        );

        // On the wire: RSV1 on each message's first frame only; the pings in between uncompressed.
        const frames = tap.last().toServer.map((f) => [f.opcode, f.fin, f.rsv1]);
        const fragmented = (opcode: number, pieces: number) =>
          Array.from({ length: pieces }, (_, i) => [
            i === 0 ? opcode : CONTINUATION,
            i === pieces - 1,
            i === 0,
          ]);
        const withPing = (seq: Array<Array<number | boolean>>) => [
          ...seq.slice(0, 2),
          [PING, true, false],
          ...seq.slice(2),
        ];
        assert.deepEqual(frames, [
          ...withPing(fragmented(TEXT, textCuts.length - 1)),
          ...withPing(fragmented(BINARY, binaryCuts.length - 1)),
          [TEXT, true, true],
          ...withPing(fragmented(TEXT, textCuts.length - 1)),
        ]);
        // Conduit answers with whole, compressed messages.
        assert.deepEqual(
          dataFrames(tap.last().toClient).map((f) => [f.opcode, f.fin, f.rsv1]),
          [
            [TEXT, true, true],
            [BINARY, true, true],
            [TEXT, true, true],
            [TEXT, true, true],
          ],
        );
        const closed = closeOfConduit(conn);
        ws.close(1000);
        assert.equal((await closed).code, 1000);
      } finally {
        ws?.terminate();
        await tap.close();
        await server.close();
      }
    });
  }

  it('keeps a connection working when ws offers permessage-deflate to a Conduit server that has it off', async () => {
    const server = await listenConduit(); // perMessageDeflate defaults to false
    const tap = await listenTap(server.port);
    let ws: WebSocket | undefined;
    try {
      const opened = await openWsClient(tap.url, { perMessageDeflate: { threshold: 0 } });
      ws = opened.ws;
      const { conn } = await server.nextConnection();
      assert.equal(opened.response, undefined);
      assert.equal(conn.extensions, '');
      assert.equal(ws.extensions, '');
      const got = collector();
      ws.on('message', (data, isBinary) => got.push({ data: toBuffer(data), isBinary }));
      const messages = sizedMessages([0, 1024, 64 * 1024]);
      for (const m of messages) wsSend(ws, m);
      await got.until(messages.length);
      assert.deepEqual(mismatches(messages, got.received), []);
      const wire = tap.last();
      assert.equal([...wire.toServer, ...wire.toClient].filter((f) => f.rsv1).length, 0);
    } finally {
      ws?.terminate();
      await tap.close();
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Conduit client -> ws server

interface ServerCase {
  name: string;
  /** ws's perMessageDeflate server options (what it imposes and allows). */
  ws: WebSocket.PerMessageDeflateOptions;
  /** Conduit client options besides the mode. */
  conduit?: Omit<PerMessageDeflateOptions, 'mode'>;
  /** ws's answer as a sorted parameter list (ws orders them as they were offered), per mode. */
  response: Record<Mode, string[]>;
  /** Conduit's offer, per mode. */
  offer: Record<Mode, string>;
}

const DEFAULT_OFFER: Record<Mode, string> = {
  shared: `${PMD}; client_no_context_takeover; client_max_window_bits`,
  dedicated: `${PMD}; client_max_window_bits`,
};
const params = (...p: string[]) => [PMD, ...p].sort();

const SERVER_CASES: ServerCase[] = [
  {
    name: 'the defaults',
    ws: {},
    offer: DEFAULT_OFFER,
    response: { shared: params('client_no_context_takeover'), dedicated: params() },
  },
  {
    name: 'server_no_context_takeover',
    ws: { serverNoContextTakeover: true },
    offer: DEFAULT_OFFER,
    response: {
      shared: params('client_no_context_takeover', 'server_no_context_takeover'),
      dedicated: params('server_no_context_takeover'),
    },
  },
  {
    name: 'client_no_context_takeover',
    ws: { clientNoContextTakeover: true },
    offer: DEFAULT_OFFER,
    response: {
      shared: params('client_no_context_takeover'),
      dedicated: params('client_no_context_takeover'),
    },
  },
  {
    name: 'both no_context_takeover',
    ws: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    offer: DEFAULT_OFFER,
    response: {
      shared: params('client_no_context_takeover', 'server_no_context_takeover'),
      dedicated: params('client_no_context_takeover', 'server_no_context_takeover'),
    },
  },
  ...[9, 12, 15].map(
    (bits): ServerCase => ({
      name: `server_max_window_bits=${bits}`,
      ws: { serverMaxWindowBits: bits },
      offer: DEFAULT_OFFER,
      response: {
        shared: params('client_no_context_takeover', `server_max_window_bits=${bits}`),
        dedicated: params(`server_max_window_bits=${bits}`),
      },
    }),
  ),
  ...[9, 12, 15].map(
    (bits): ServerCase => ({
      name: `client_max_window_bits=${bits}`,
      ws: { clientMaxWindowBits: bits },
      offer: DEFAULT_OFFER,
      response: {
        shared: params('client_no_context_takeover', `client_max_window_bits=${bits}`),
        dedicated: params(`client_max_window_bits=${bits}`),
      },
    }),
  ),
  {
    name: 'every parameter (windows 10 and 11)',
    ws: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 11,
    },
    offer: DEFAULT_OFFER,
    response: {
      shared: params(
        'client_no_context_takeover',
        'server_no_context_takeover',
        'server_max_window_bits=10',
        'client_max_window_bits=11',
      ),
      dedicated: params(
        'client_no_context_takeover',
        'server_no_context_takeover',
        'server_max_window_bits=10',
        'client_max_window_bits=11',
      ),
    },
  },
  {
    name: 'the defaults, Conduit offering server_max_window_bits=10 and client_max_window_bits=9',
    ws: {},
    conduit: { serverMaxWindowBits: 10, clientMaxWindowBits: 9 },
    offer: {
      shared: `${PMD}; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9`,
      dedicated: `${PMD}; server_max_window_bits=10; client_max_window_bits=9`,
    },
    response: {
      shared: params('client_no_context_takeover', 'server_max_window_bits=10', 'client_max_window_bits=9'),
      dedicated: params('server_max_window_bits=10', 'client_max_window_bits=9'),
    },
  },
];

/** The Sec-WebSocket-Extensions line of a ws server's response headers. */
function extensionsLine(headers: readonly string[]): string | undefined {
  const line = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
  return line?.slice(line.indexOf(':') + 1).trim();
}

describe('permessage-deflate: a Conduit client and a ws server', { timeout: 120_000 }, () => {
  for (const c of SERVER_CASES) {
    for (const mode of MODES) {
      it(`Conduit in ${mode} mode, ws answering with ${c.name}: both ends agree and every size echoes compressed, in order`, async () => {
        const server = await listenWs({ perMessageDeflate: { ...c.ws, threshold: 0 } });
        let answered: string | undefined;
        server.server.on('headers', (headers) => {
          answered = extensionsLine(headers);
        });
        const tap = await listenTap(Number(new URL(server.url).port));
        let conn: WebSocketConnection | undefined;
        try {
          conn = await within(
            5000,
            'connect()',
            connect(tap.url, { perMessageDeflate: { mode, ...c.conduit } }),
          );
          const { ws, req } = await server.nextConnection();
          assert.equal(req.headers['sec-websocket-extensions'], c.offer[mode], 'the offer ws received');
          assert.deepEqual(extensionParams(answered), c.response[mode], 'what ws answered');
          assert.equal(headerIn(tap.last().responseHead, 'Sec-WebSocket-Extensions'), answered);
          assert.equal(conn.extensions, answered, 'the Conduit connection');
          assert.equal(ws.extensions, PMD);

          const got = collector();
          conn.on('message', (data, isBinary) => got.push({ data, isBinary }));
          await exchange((m) => conn!.send(m.data), got);
          assert.deepEqual(mismatches(MESSAGES, got.received), []);

          const wire = tap.last();
          const up = dataFrames(wire.toServer);
          const down = dataFrames(wire.toClient);
          assert.deepEqual(
            up.map((f) => [f.opcode, f.fin, f.masked]),
            MESSAGES.map((m) => [typeof m.data === 'string' ? TEXT : BINARY, true, true]),
          );
          const clientNct = (answered ?? '').includes('client_no_context_takeover');
          assert.deepEqual(
            conduitFrames(up, MESSAGES, clientNct),
            expectedConduitFrames(MESSAGES, clientNct),
            'Conduit set RSV1 on every message, short ones in stored blocks when it resets its context',
          );
          assert.deepEqual(
            compressedTextShrank(
              MESSAGES,
              up.map((f) => f.length),
            ),
            [],
          );
          assert.deepEqual(
            down.map((f) => [f.fin, f.rsv1]),
            MESSAGES.map(() => [true, true]),
            'ws compressed every message',
          );
          assert.equal([...wire.toServer, ...wire.toClient].filter((f) => f.rsv2 || f.rsv3).length, 0);

          const wsClosed = within(
            5000,
            'the ws side to close',
            new Promise<number>((resolve) => ws.once('close', (code) => resolve(code))),
          );
          const closed = closeOfConduit(conn);
          conn.close(1000, 'done');
          assert.equal(await wsClosed, 1000);
          assert.equal((await closed).wasClean, true);
        } finally {
          conn?.terminate();
          await tap.close();
          await server.close();
        }
      });
    }
  }

  it('reports outbound frames in wire order with inspectFrames while a message is being compressed', async () => {
    const server = await listenWs({ perMessageDeflate: { threshold: 0 } });
    const tap = await listenTap(Number(new URL(server.url).port));
    let conn: WebSocketConnection | undefined;
    try {
      // Dedicated mode: every compressed message goes through the thread pool, so the small message
      // and the ping sent right after it are framed first but must leave after it. (With context
      // takeover the default threshold is 0; 1024 keeps the small message plain, framed by the core.)
      conn = await within(
        5000,
        'connect()',
        connect(tap.url, { perMessageDeflate: { threshold: 1024 }, inspectFrames: true }),
      );
      const frames: FrameInfo[] = [];
      conn.on('frame', (f) => frames.push(f));
      const got = collector();
      conn.on('message', (data, isBinary) => got.push({ data, isBinary }));
      conn.send(compressibleText(4096, 31));
      conn.send('small');
      conn.ping('p');
      await got.until(2);
      const wire = tap.last().toServer.map((f) => [f.opcode, f.rsv1]);
      assert.deepEqual(wire, [
        [TEXT, true],
        [TEXT, false],
        [PING, false],
      ]);
      assert.deepEqual(
        frames.filter((f) => f.direction === 'out').map((f) => [f.opcode, f.rsv1]),
        wire,
        "the 'frame' events name the frames in the order they were written",
      );
    } finally {
      conn?.terminate();
      await tap.close();
      await server.close();
    }
  });

  it('sends fragments, compress:false messages and small messages uncompressed, which ws reads as they are', async () => {
    const server = await listenWs({ perMessageDeflate: { threshold: 0 } });
    let conn: WebSocketConnection | undefined;
    try {
      // Dedicated mode (context takeover) with an explicit threshold: small messages go plain.
      conn = await within(
        5000,
        'connect()',
        connect(server.url, { perMessageDeflate: { threshold: 1024 }, inspectFrames: true }),
      );
      const frames: FrameInfo[] = [];
      conn.on('frame', (f) => frames.push(f));
      const got = collector();
      conn.on('message', (data, isBinary) => got.push({ data, isBinary }));
      const big = compressibleText(64 * 1024, 9);
      const bigBytes = Buffer.from(big, 'utf8');
      // Fragments of a text message: strings, so the first frame is a text frame.
      const cut = big.indexOf(' ', 20_000); // not inside a surrogate pair
      conn.send(big.slice(0, cut), { fin: false });
      conn.send(big.slice(cut), { fin: true });
      conn.send(big, { compress: false });
      conn.send('small');
      conn.send(big);
      await got.until(4);
      const sent: TestMessage[] = [
        { data: big, size: bigBytes.length, label: 'fragmented' },
        { data: big, size: bigBytes.length, label: 'compress: false' },
        { data: 'small', size: 5, label: 'small' },
        { data: big, size: bigBytes.length, label: 'compressed' },
      ];
      assert.deepEqual(mismatches(sent, got.received), []);
      assert.deepEqual(
        frames.filter((f) => f.direction === 'out').map((f) => [f.opcode, f.fin, f.rsv1]),
        [
          [TEXT, false, false],
          [CONTINUATION, true, false],
          [TEXT, true, false],
          [TEXT, true, false],
          [TEXT, true, true],
        ],
      );
    } finally {
      conn?.terminate();
      await server.close();
    }
  });

  for (const mode of MODES) {
    it(`compresses even empty messages with threshold 0 (${mode} mode), and ws inflates them`, async () => {
      const server = await listenWs({ perMessageDeflate: { threshold: 0 } });
      let conn: WebSocketConnection | undefined;
      try {
        conn = await within(
          5000,
          'connect()',
          connect(server.url, { perMessageDeflate: { mode, threshold: 0 }, inspectFrames: true }),
        );
        const frames: FrameInfo[] = [];
        conn.on('frame', (f) => frames.push(f));
        const got = collector();
        conn.on('message', (data, isBinary) => got.push({ data, isBinary }));
        const messages = sizedMessages([0, 1, 125, 1023]);
        for (const m of messages) conn.send(m.data);
        await got.until(messages.length);
        assert.deepEqual(mismatches(messages, got.received), []);
        assert.deepEqual(
          frames.filter((f) => f.direction === 'out').map((f) => f.rsv1),
          messages.map(() => true),
        );
      } finally {
        conn?.terminate();
        await server.close();
      }
    });
  }

  it('connects uncompressed when ws has permessage-deflate off, and when Conduit does not offer it', async () => {
    const off = await listenWs(); // ws servers default to perMessageDeflate: false
    const on = await listenWs({ perMessageDeflate: { threshold: 0 } });
    const conns: WebSocketConnection[] = [];
    try {
      for (const [url, options] of [
        [off.url, {}],
        [on.url, { perMessageDeflate: false }],
      ] as const) {
        const conn = await within(5000, 'connect()', connect(url, { ...options, inspectFrames: true }));
        conns.push(conn);
        assert.equal(conn.extensions, '');
        const frames: FrameInfo[] = [];
        conn.on('frame', (f) => frames.push(f));
        const got = collector();
        conn.on('message', (data, isBinary) => got.push({ data, isBinary }));
        const messages = sizedMessages([0, 1024, 64 * 1024]);
        for (const m of messages) conn.send(m.data);
        await got.until(messages.length);
        assert.deepEqual(mismatches(messages, got.received), []);
        assert.equal(frames.filter((f) => f.rsv1).length, 0);
      }
      const { req } = await on.nextConnection();
      assert.equal(req.headers['sec-websocket-extensions'], undefined);
    } finally {
      for (const conn of conns) conn.terminate();
      await off.close();
      await on.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Backpressure with compression

/**
 * Two 1 MiB messages sent back to back: 2 MiB wait in the compression queue, over the 1 MiB
 * high-water mark, so the connection stops reading until they drain. The second one is 'a' x 1 MiB,
 * whose compressed frame (about 1 KiB) the socket takes without backpressure of its own.
 */
function twoBigMessages(): [string, string] {
  return [compressibleText(1024 * 1024, 21), 'a'.repeat(1024 * 1024)];
}

describe('permessage-deflate: sending more than highWaterMark of compressed messages', {
  timeout: 30_000,
}, () => {
  for (const mode of MODES) {
    it(`a Conduit server (${mode} mode) emits 'drain' and reads again once its queue has drained`, async () => {
      const server = await listenConduit({ perMessageDeflate: { mode }, closeTimeout: 500 }, () => {});
      let ws: WebSocket | undefined;
      try {
        ({ ws } = await openWsClient(server.url, { perMessageDeflate: { threshold: 0 } }));
        const { conn } = await server.nextConnection();
        const got = collector();
        ws.on('message', (data, isBinary) => got.push({ data: toBuffer(data), isBinary }));
        let drained = 0;
        conn.on('drain', () => drained++);
        const [first, second] = twoBigMessages();
        conn.send(first);
        conn.send(second);
        await got.until(2);
        assert.equal(got.received[0]!.data.toString('utf8') === first, true);
        assert.equal(got.received[1]!.data.toString('utf8') === second, true);
        // Everything was delivered: nothing is buffered any more, so the connection must read again.
        const heard = new Promise<string>((resolve) => conn.once('message', (d) => resolve(d.toString())));
        ws.send('are you still reading?');
        assert.equal(
          await within(3000, 'the Conduit server to read again after its queue drained', heard),
          'are you still reading?',
        );
        assert.equal(conn.bufferedAmount, 0);
        assert.equal(drained, 1, "'drain' once the backlog over highWaterMark was written");
      } finally {
        ws?.terminate();
        for (const client of server.server.clients) client.terminate();
        await server.close();
      }
    });

    it(`a Conduit client (${mode} mode) emits 'drain' and reads again once its queue has drained`, async () => {
      const server = await listenWs({ perMessageDeflate: { threshold: 0 } }, () => {});
      let conn: WebSocketConnection | undefined;
      try {
        conn = await within(5000, 'connect()', connect(server.url, { perMessageDeflate: { mode } }));
        const { ws } = await server.nextConnection();
        const got = collector();
        ws.on('message', (data, isBinary) => got.push({ data: toBuffer(data), isBinary }));
        let drained = 0;
        conn.on('drain', () => drained++);
        const [first, second] = twoBigMessages();
        conn.send(first);
        conn.send(second);
        await got.until(2);
        assert.equal(got.received[0]!.data.toString('utf8') === first, true);
        assert.equal(got.received[1]!.data.toString('utf8') === second, true);
        const client = conn;
        const heard = new Promise<string>((resolve) => client.once('message', (d) => resolve(d.toString())));
        ws.send('are you still reading?');
        assert.equal(
          await within(3000, 'the Conduit client to read again after its queue drained', heard),
          'are you still reading?',
        );
        assert.equal(conn.bufferedAmount, 0);
        assert.equal(drained, 1, "'drain' once the backlog over highWaterMark was written");
      } finally {
        conn?.terminate();
        await server.close();
      }
    });
  }
});
