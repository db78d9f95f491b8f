import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { pollingClient, post, sseClient, wsClient } from '../support/hub-clients.js';

let server: RunningServer;
before(async () => {
  server = await startServer({ port: 0, hubHttp: { pollTimeoutMs: 300 } });
});
after(() => server.close());

describe('conduit serve: the hub over SSE + POST and long-polling', () => {
  it('delivers the same publications, with acks, to subscribers on WebSocket, SSE and long-polling', async () => {
    const ws = await wsClient(server.url);
    const sse = await sseClient(server.url);
    const poll = await pollingClient(server.url);
    for (const [client, kind] of [
      [ws, 'websocket'],
      [sse, 'sse'],
      [poll, 'polling'],
    ] as const) {
      assert.equal((await client.next('connected')).transport, kind);
      await client.send({ type: 'subscribe', id: 1, channel: 'room' });
      await client.next('subscribed');
    }
    await sse.send({ type: 'publish', id: 2, channel: 'room', data: 'from sse', cmid: 's-1' });
    await poll.send({ type: 'publish', id: 2, channel: 'room', data: 'from polling', cmid: 'p-1' });
    assert.equal((await sse.next('ack')).id, 2);
    assert.equal((await poll.next('ack')).id, 2);
    for (const client of [ws, sse, poll]) {
      const first = await client.next('message');
      const second = await client.next('message');
      assert.deepEqual([first.data, second.data], ['from sse', 'from polling']);
      assert.equal(second.offset, first.offset + 1);
    }
    for (const client of [ws, sse, poll]) client.kill();
  });

  it('answers a waiting long-poll as soon as a message comes, and an idle one empty after the poll timeout', async () => {
    const poll = await pollingClient(server.url);
    await poll.send({ type: 'subscribe', id: 1, channel: 'quiet' });
    await poll.next('subscribed');
    const before = poll.polls();
    await new Promise((r) => setTimeout(r, 800));
    // 300 ms poll timeout: two or three empty answers in 800 ms, not a busy loop and not none.
    const empty = poll.polls() - before;
    assert.ok(empty >= 2 && empty <= 4, `${empty} polls in 800 ms`);
    const sent = Date.now();
    await server.hub.publish('quiet', 'now');
    assert.equal((await poll.next('message')).data, 'now');
    assert.ok(Date.now() - sent < 200, 'the waiting poll was answered at once');
    poll.kill();
  });

  it('keeps the session across a change of transport: WebSocket, then long-polling, then SSE, with nothing lost', async () => {
    const ws = await wsClient(server.url);
    const session = ws.session;
    const key = ws.key;
    await ws.send({ type: 'subscribe', id: 1, channel: 'move', presence: true });
    const subscribed = await ws.next('subscribed');
    await server.hub.publish('move', 'one');
    const one = await ws.next('message');
    ws.kill();
    // Published while the client is between transports.
    await server.hub.publish('move', 'two');
    const poll = await pollingClient(server.url, `?session=${key}`);
    const hello = await poll.next('connected');
    assert.deepEqual([hello.session, hello.resumed, hello.transport], [session, true, 'polling']);
    await poll.send({
      type: 'subscribe',
      id: 2,
      channel: 'move',
      since: { epoch: one.epoch, offset: one.offset },
    });
    const resubscribed = await poll.next('subscribed');
    assert.equal(resubscribed.recovered, true);
    assert.equal((await poll.next('message')).data, 'two');
    poll.kill();
    await server.hub.publish('move', 'three');
    const sse = await sseClient(server.url, `?session=${key}`);
    assert.equal((await sse.next('connected')).resumed, true);
    await sse.send({
      type: 'subscribe',
      id: 3,
      channel: 'move',
      since: { epoch: subscribed.epoch, offset: one.offset + 1 },
    });
    await sse.next('subscribed');
    assert.equal((await sse.next('message')).data, 'three');
    // Presence went on without a leave: the member is the same session.
    await sse.send({ type: 'presence', id: 4, channel: 'move' });
    assert.deepEqual(
      (await sse.next('presence')).members.map((m) => m.session),
      [session],
    );
    sse.kill();
  });

  it('a newer long-poll of the same transport answers the older one empty, and the stream goes on', async () => {
    const t = 'abcdefghijklmnopqrstuvwx';
    const first = await fetch(`${server.url}/hub/poll?t=${t}`);
    const hello = JSON.parse((await first.text()).trim()) as { key: string };
    const older = fetch(`${server.url}/hub/poll?t=${t}&session=${hello.key}`);
    await new Promise((r) => setTimeout(r, 50));
    const newer = fetch(`${server.url}/hub/poll?t=${t}&session=${hello.key}`);
    assert.equal(await (await older).text(), '');
    await post(server.url, hello.key, [{ type: 'ping' }]);
    assert.deepEqual(JSON.parse((await (await newer).text()).trim()), { type: 'pong' });
  });

  it('refuses bad requests with the right status and keeps the session', async () => {
    const poll = await pollingClient(server.url);
    const unknown = await post(server.url, 'no-such-session.AAAAAAAAAAAAAAAAAAAAAA', [{ type: 'ping' }]);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'SESSION_UNKNOWN');
    const big = await fetch(`${server.url}/hub/send?session=${poll.key}`, {
      method: 'POST',
      body: 'x'.repeat(1024 * 1024 + 1),
    });
    assert.equal(big.status, 413);
    const notUtf8 = await fetch(`${server.url}/hub/send?session=${poll.key}`, {
      method: 'POST',
      body: new Uint8Array([0xff, 0xfe]),
    });
    assert.equal(notUtf8.status, 400);
    assert.equal((await fetch(`${server.url}/hub/poll?t=short`)).status, 400);
    assert.equal((await fetch(`${server.url}/hub/send`)).status, 405);
    assert.equal((await fetch(`${server.url}/hub/sse`, { method: 'POST' })).status, 405);
    // Bad lines in a POST get their protocol errors on the downstream; the good line still goes.
    const mixed = await fetch(`${server.url}/hub/send?session=${poll.key}`, {
      method: 'POST',
      body: 'not json\n{"type":"warp","id":7,"channel":"x"}\n{"type":"ping"}\n',
    });
    assert.equal(mixed.status, 204);
    assert.equal((await poll.next('error')).code, 'BAD_MESSAGE');
    const unknownType = await poll.next('error');
    assert.deepEqual([unknownType.code, unknownType.id], ['UNKNOWN_TYPE', 7]);
    await poll.next('pong');
    poll.kill();
  });
});

describe('conduit serve: hub liveness over HTTP transports', () => {
  let quick: RunningServer;
  before(async () => {
    quick = await startServer({
      port: 0,
      hub: { pingIntervalMs: 100, livenessTimeoutMs: 400 },
      hubHttp: { pollTimeoutMs: 5000 },
    });
  });
  after(() => quick.close());

  it('pings an SSE client, and closes it with 4009 when its POSTs stop', async () => {
    const sse = await sseClient(quick.url);
    await sse.next('ping', 1000);
    await sse.send({ type: 'pong' });
    const bye = await sse.next('disconnect', 2000);
    assert.deepEqual([bye.code, bye.reconnect], [4009, true]);
    await sse.closed;
  });

  it('closes a long-polling transport whose client stopped polling, and the session can still resume', async () => {
    const poll = await pollingClient(quick.url);
    const session = poll.key;
    poll.kill();
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(quick.hub.stats().transports.polling, 0);
    const again = await pollingClient(quick.url, `?session=${session}`);
    assert.equal((await again.next('connected')).resumed, true);
    again.kill();
  });
});

describe('conduit serve: the client bundle and the demo endpoints', () => {
  it('serves /conduit.js as JavaScript, gzipped when asked, with an ETag that answers 304', async () => {
    const { request } = await import('node:http');
    const get = (headers: Record<string, string>) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        request(`${server.url}/conduit.js`, { headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        })
          .on('error', reject)
          .end();
      });
    const plain = await get({});
    assert.equal(plain.status, 200);
    assert.match(String(plain.headers['content-type']), /^text\/javascript/);
    assert.match(plain.body.toString(), /export\s*\{/);
    const gzipped = await get({ 'accept-encoding': 'gzip, br' });
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    const { gunzipSync } = await import('node:zlib');
    assert.deepEqual(gunzipSync(gzipped.body), plain.body);
    assert.ok(gzipped.body.length < 8 * 1024, `${gzipped.body.length} bytes gzipped`);
    assert.equal((await get({ 'if-none-match': String(plain.headers.etag) })).status, 304);
  });

  it('gives demo tokens for a display name, which the hub takes as the user', async () => {
    const demo = await startServer({ port: 0, demo: { tickMs: 50 } });
    try {
      assert.equal((await fetch(`${demo.url}/demo/token?name=${'x'.repeat(25)}`)).status, 400);
      const { token } = (await (await fetch(`${demo.url}/demo/token?name=Ann%20B`)).json()) as {
        token: string;
      };
      const named = await pollingClient(demo.url, `?token=${token}`, `&token=${token}`);
      await named.send({ type: 'subscribe', id: 1, channel: 'market.ticker', presence: true });
      await named.next('subscribed');
      const tick = await named.next('message');
      assert.deepEqual(Object.keys(JSON.parse(tick.data).quotes).length, 6);
      await named.send({ type: 'presence', id: 2, channel: 'market.ticker' });
      assert.deepEqual(
        (await named.next('presence')).members.map((m) => m.user),
        ['Ann B'],
      );
      // Without a token: anonymous, still welcome; with a forged one: refused.
      const anonymous = await pollingClient(demo.url);
      anonymous.kill();
      assert.equal((await fetch(`${demo.url}/hub/poll?t=abcdefghijklmnopqrst&token=forged`)).status, 401);
      named.kill();
    } finally {
      await demo.close();
    }
  });

  it('gives no demo tokens when the server has a token secret of its own (they would name any user)', async () => {
    const guarded = await startServer({ port: 0, demo: true, access: { tokenSecret: 'k'.repeat(32) } });
    try {
      assert.equal((await fetch(`${guarded.url}/demo/token?name=Ann`)).status, 404);
      assert.equal((await fetch(`${guarded.url}/hub/poll?t=abcdefghijklmnopqrst`)).status, 401);
    } finally {
      await guarded.close();
    }
  });
});
