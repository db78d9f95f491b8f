import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  connect,
  type FrameInfo,
  PreparedMessage,
  type WebSocketConnection,
  WebSocketServer,
  type WebSocketServerOptions,
} from '../../../src/index.js';
import { zlibLimiter } from '../../../src/pipeline/zlib-limiter.js';

async function echoServer(
  options: Partial<WebSocketServerOptions>,
): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  const address = wss.address();
  assert.ok(address !== null && typeof address === 'object');
  return { wss, url: `ws://127.0.0.1:${address.port}/` };
}

function collect(ws: WebSocketConnection, count: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve) => {
    ws.on('message', (data) => {
      got.push(data);
      if (got.length === count) resolve(got);
    });
  });
}

/** Messages whose compression takes different paths: uncompressed, synchronous, thread pool. */
function mixedMessages(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const size = [10, 2000, 300_000, 50, 70_000][i % 5]!;
    out.push(Buffer.alloc(size, `${i % 10}message${i}`));
  }
  return out;
}

describe('permessage-deflate in the Node adapter', () => {
  for (const mode of ['shared', 'dedicated'] as const) {
    it(`keeps message order in ${mode} mode when small, large and uncompressed messages mix`, async () => {
      const { wss, url } = await echoServer({ perMessageDeflate: { mode } });
      const client = await connect(url, { perMessageDeflate: { mode }, inspectFrames: true });
      const frames: FrameInfo[] = [];
      client.on('frame', (f) => frames.push(f));
      assert.match(client.extensions, /^permessage-deflate/);
      const messages = mixedMessages();
      const received = collect(client, messages.length);
      for (const m of messages) client.send(m);
      const got = await received;
      assert.equal(got.length, messages.length);
      for (let i = 0; i < messages.length; i++) assert.ok(got[i]!.equals(messages[i]!), `message ${i}`);
      const dataIn = frames.filter((f) => f.direction === 'in' && f.opcode === 2);
      // Every echo is flagged compressed. Shared mode: under the 1024-byte threshold as stored blocks
      // (6 bytes more, no zlib), over it deflated. Dedicated mode (context takeover): all deflated.
      assert.equal(dataIn.length, messages.length);
      assert.ok(
        dataIn.every((f) => f.rsv1),
        'RSV1 on every message',
      );
      for (let i = 0; i < messages.length; i++) {
        const size = messages[i]!.length;
        if (mode === 'shared' && size < 1024) assert.equal(dataIn[i]!.length, size + 6, `stored ${i}`);
        else assert.ok(dataIn[i]!.length < Math.max(size, 64), `deflated ${i}: ${dataIn[i]!.length}`);
      }
      client.close();
      await wss.close();
    });
  }

  it('sends a message uncompressed when asked with compress: false', async () => {
    const { wss, url } = await echoServer({ perMessageDeflate: true });
    const client = await connect(url, { inspectFrames: true });
    const frames: FrameInfo[] = [];
    client.on('frame', (f) => frames.push(f));
    const received = collect(client, 1);
    client.send(Buffer.alloc(5000, 1), { compress: false });
    await received;
    const out = frames.find((f) => f.direction === 'out' && f.opcode === 2);
    assert.equal(out?.rsv1, false);
    assert.equal(out?.length, 5000);
    client.close();
    await wss.close();
  });

  it("sends short messages plain with shortMessages: 'plain', and stored blocks by default", async () => {
    for (const shortMessages of ['plain', 'stored'] as const) {
      const { wss, url } = await echoServer({ perMessageDeflate: { mode: 'shared', shortMessages } });
      const client = await connect(url, { perMessageDeflate: { mode: 'shared' }, inspectFrames: true });
      const frames: FrameInfo[] = [];
      client.on('frame', (f) => frames.push(f));
      const messages = [Buffer.alloc(0), Buffer.from('tiny'), Buffer.alloc(1023, 7), Buffer.alloc(1024, 7)];
      const received = collect(client, messages.length);
      for (const m of messages) client.send(m);
      const got = await received;
      for (let i = 0; i < messages.length; i++) assert.ok(got[i]!.equals(messages[i]!), `message ${i}`);
      // The first three of each direction: the messages under the threshold.
      const sent = frames.filter((f) => f.direction === 'out' && f.opcode === 2).slice(0, 3);
      const echoed = frames.filter((f) => f.direction === 'in' && f.opcode === 2).slice(0, 3);
      // The client's own default is 'stored' too: its short messages go as stored blocks either way.
      assert.deepEqual(
        sent.map((f) => [f.rsv1, f.length]),
        [
          [true, 1],
          [true, 10],
          [true, 1029],
        ],
      );
      const expected =
        shortMessages === 'plain'
          ? [
              [false, 0],
              [false, 4],
              [false, 1023],
            ]
          : [
              [true, 1],
              [true, 10],
              [true, 1029],
            ];
      assert.deepEqual(
        echoed.map((f) => [f.rsv1, f.length]),
        expected,
        shortMessages,
      );
      client.close();
      await wss.close();
    }
  });

  it('sends the close frame after a message still being compressed, and counts it as buffered', async () => {
    const { wss, url } = await echoServer({ perMessageDeflate: { mode: 'dedicated' } });
    const client = await connect(url);
    const big = Buffer.alloc(2 << 20, 'close after me ');
    const received = collect(client, 1);
    const closed = once(client, 'close');
    client.send(big);
    assert.ok(client.bufferedAmount >= big.length, 'the queued message counts in bufferedAmount');
    client.close(1000, 'done');
    assert.equal(client.readyState, 2);
    assert.equal(client.send('too late'), false);
    const [echo] = await received;
    assert.ok(echo!.equals(big));
    const [code] = (await closed) as [number, string];
    assert.equal(code, 1000);
    await wss.close();
  });

  it('fails queued sends with an error and frees zlib when the connection dies mid-compression', async () => {
    const { wss, url } = await echoServer({ perMessageDeflate: { mode: 'dedicated' } });
    const client = await connect(url, { perMessageDeflate: { mode: 'dedicated' } });
    const results: (Error | null | undefined)[] = [];
    for (let i = 0; i < 6; i++) client.send(Buffer.alloc(1 << 20, `payload ${i} `), (e) => results.push(e));
    client.terminate();
    await once(client, 'close');
    for (let i = 0; i < 50 && results.length < 6; i++) await sleep(20);
    assert.equal(results.length, 6, 'every callback ran');
    assert.ok(
      results.some((e) => e instanceof Error),
      'sends that never left report an error',
    );
    for (let i = 0; i < 50 && zlibLimiter.stats.active > 0; i++) await sleep(20);
    assert.deepEqual(zlibLimiter.stats, { active: 0, waiting: 0 });
    await wss.close();
  });

  it('is off on a server by default, and a client without it offers nothing', async () => {
    const plain = await echoServer({});
    const a = await connect(plain.url);
    assert.equal(a.extensions, '');
    a.close();
    await plain.wss.close();
    const compressed = await echoServer({ perMessageDeflate: true });
    const b = await connect(compressed.url, { perMessageDeflate: false });
    assert.equal(b.extensions, '');
    b.close();
    await compressed.wss.close();
  });
});

describe('WebSocketServer.broadcast', () => {
  it('frames once and delivers to every open client, compressed for shared-mode clients', async () => {
    const { wss, url } = await echoServer({ perMessageDeflate: { mode: 'shared' } });
    const plainClient = await connect(url, { perMessageDeflate: false, inspectFrames: true });
    const deflateClient = await connect(url, { inspectFrames: true });
    await new Promise((r) => setTimeout(r, 20));
    const rsv: Record<string, boolean[]> = { plain: [], deflate: [] };
    plainClient.on('frame', (f) => f.direction === 'in' && rsv.plain!.push(f.rsv1));
    deflateClient.on('frame', (f) => f.direction === 'in' && rsv.deflate!.push(f.rsv1));
    const text = JSON.stringify({ event: 'tick', data: 'x'.repeat(4000) });
    const gotPlain = collect(plainClient, 3);
    const gotDeflate = collect(deflateClient, 3);
    assert.equal(wss.broadcast(text), 2);
    const prepared = new PreparedMessage(Buffer.from('small binary'));
    assert.equal(wss.broadcast(prepared), 2);
    assert.equal(wss.broadcast('only plain', { filter: (c) => c.extensions === '' }), 1);
    assert.equal(wss.broadcast('only deflate', { filter: (c) => c.extensions !== '' }), 1);
    const [p, d] = await Promise.all([gotPlain, gotDeflate]);
    assert.deepEqual(
      p.map((m) => m.toString()),
      [text, 'small binary', 'only plain'],
    );
    assert.deepEqual(
      d.map((m) => m.toString()),
      [text, 'small binary', 'only deflate'],
    );
    assert.deepEqual(rsv.plain, [false, false, false]);
    assert.deepEqual(rsv.deflate, [true, true, true], 'flagged compressed: short ones as stored blocks');
    plainClient.close();
    deflateClient.close();
    await wss.close();
  });

  it('keeps order in a burst of broadcasts and skips clients that closed', async () => {
    const { wss, url } = await echoServer({});
    const a = await connect(url);
    const b = await connect(url);
    await new Promise((r) => setTimeout(r, 20));
    const gotA = collect(a, 100);
    for (let i = 0; i < 100; i++) wss.broadcast(`m${i}`);
    const messages = await gotA;
    assert.deepEqual(
      messages.map((m) => m.toString()),
      Array.from({ length: 100 }, (_, i) => `m${i}`),
    );
    b.close();
    await once(b, 'close');
    assert.equal(wss.broadcast('after'), 1);
    a.close();
    await wss.close();
  });
});
