import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SseEvent } from '../../src/protocol/sse/parser.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { readEvents } from '../support/sse.js';

let server: RunningServer;
before(async () => {
  server = await startServer({ port: 0, sse: { replay: 8, maxPublishBytes: 1024 } });
});
after(() => server.close());

async function publish(channel: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}/publish?channel=${encodeURIComponent(channel)}`, {
    method: 'POST',
    body,
  });
  return { status: res.status, json: await res.json() };
}

/** Open /sse and collect events until `count` arrived, then leave. */
function subscribe(
  channel: string,
  count: number,
  headers: Record<string, string> = {},
  query = '',
): Promise<SseEvent[]> {
  return readEvents(`${server.url}/sse?channel=${channel}${query}`, count, headers);
}

/** Wait until the channel has `n` subscribers (so a publish cannot race the subscription). */
async function subscribed(n: number): Promise<void> {
  const until = Date.now() + 3000;
  // biome-ignore lint/complexity/useLiteralKeys: reading a private field in a test
  const count = () => [...server.channels['channels'].values()].reduce((s, c) => s + c.subscribers.size, 0);
  while (count() < n) {
    if (Date.now() > until) throw new Error('no subscriber');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('conduit serve: /sse and /publish', () => {
  it('resumes after a disconnect with exactly the missed events: publish 5, read, publish 5, resume from the 3rd', async () => {
    const reading = subscribe('resume', 5);
    await subscribed(1);
    const first: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = await publish('resume', `event ${i}`);
      assert.equal(r.status, 202);
      first.push((r.json as { id: number }).id);
    }
    const seen = await reading;
    assert.deepEqual(first, [1, 2, 3, 4, 5]);
    assert.deepEqual(
      seen.map((e) => [e.lastEventId, e.data]),
      first.map((id) => [String(id), `event ${id}`]),
    );
    for (let i = 6; i <= 10; i++) await publish('resume', `event ${i}`);
    const resumed = await subscribe('resume', 7, { 'Last-Event-ID': seen[2]!.lastEventId });
    assert.deepEqual(
      resumed.map((e) => e.data),
      [4, 5, 6, 7, 8, 9, 10].map((i) => `event ${i}`),
    );
    // The same through the query parameter, for clients that cannot set headers.
    const viaQuery = await subscribe('resume', 2, {}, '&lastEventId=8');
    assert.deepEqual(
      viaQuery.map((e) => e.lastEventId),
      ['9', '10'],
    );
  });

  it('tells a client whose id is older than the replay buffer, with a named gap event', async () => {
    for (let i = 1; i <= 12; i++) await publish('gap', `g${i}`);
    const events = await subscribe('gap', 9, { 'Last-Event-ID': '2' });
    assert.equal(events[0]!.type, 'gap');
    assert.deepEqual(JSON.parse(events[0]!.data), { requested: '2', oldest: 5 });
    assert.deepEqual(
      events.slice(1).map((e) => e.data),
      [5, 6, 7, 8, 9, 10, 11, 12].map((i) => `g${i}`),
    );
  });

  it('delivers a publish to every subscriber of the channel, and only to them', async () => {
    const readers = Array.from({ length: 5 }, () => subscribe('fan', 1));
    const other = subscribe('other', 1);
    await subscribed(6);
    await publish('fan', 'to all');
    await publish('other', 'just one');
    for (const events of await Promise.all(readers))
      assert.deepEqual(
        events.map((e) => e.data),
        ['to all'],
      );
    assert.deepEqual(
      (await other).map((e) => e.data),
      ['just one'],
    );
  });

  it('refuses bad channels, oversized and non-UTF-8 bodies, and wrong methods', async () => {
    assert.equal((await publish('bad name!', 'x')).status, 400);
    assert.equal((await publish('big', 'x'.repeat(2048))).status, 413);
    const res = await fetch(`${server.url}/publish?channel=bin`, {
      method: 'POST',
      body: new Uint8Array([0xff, 0xfe]),
    });
    assert.equal(res.status, 400);
    const wrongMethod = await fetch(`${server.url}/publish?channel=a`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
    const postToSse = await fetch(`${server.url}/sse?channel=a`, { method: 'POST', body: 'x' });
    assert.equal(postToSse.status, 405);
    assert.equal(postToSse.headers.get('allow'), 'GET');
    assert.equal((await fetch(`${server.url}/sse`)).status, 400);
  });
});
