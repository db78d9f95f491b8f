/**
 * The server API for backends (/api/): a backend publishes into a hub channel and every client
 * transport receives it with the same offset; history, presence, info; the API key; bad input gets its
 * status and a JSON error. One backend is Python's standard library (/usr/bin/python3), as a backend
 * in another language would be.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { pollingClient, sseClient, wsClient } from '../support/hub-clients.js';

const KEY = 'test-api-key-0123456789';

function api(
  server: RunningServer,
  method: string,
  body: unknown,
  key: string | null = KEY,
): Promise<Response> {
  return fetch(`${server.url}/api/${method}`, {
    method: 'POST',
    headers: key === null ? {} : { authorization: `apikey ${key}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('server API for backends', { timeout: 30_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ port: 0, demo: false, api: { key: KEY } });
  });

  after(async () => {
    await server.close();
  });

  it('publishes into a hub channel: WebSocket, SSE and long-polling subscribers get it with the answered offset', async () => {
    const clients = [
      await wsClient(server.url),
      await sseClient(server.url),
      await pollingClient(server.url),
    ];
    for (const [i, c] of clients.entries()) {
      await c.send({ type: 'subscribe', id: i + 1, channel: 'orders' });
      await c.next('subscribed');
    }
    const res = await api(server, 'publish', {
      channel: 'orders',
      data: '{"id":42}',
      idempotencyKey: 'order-42',
    });
    assert.equal(res.status, 200);
    const { epoch, offset } = (await res.json()) as { epoch: string; offset: number };
    for (const c of clients) {
      const m = await c.next('message');
      assert.deepEqual(
        [m.channel, m.data, m.epoch, m.offset, m.from],
        ['orders', '{"id":42}', epoch, offset, null],
      );
    }
    // The same idempotency key: the first publish's position, nothing delivered twice.
    const again = (await (
      await api(server, 'publish', { channel: 'orders', data: '{"id":42}', idempotencyKey: 'order-42' })
    ).json()) as { offset: number };
    assert.equal(again.offset, offset);
    const history = (await (await api(server, 'history', { channel: 'orders' })).json()) as {
      publications: unknown[];
    };
    assert.equal(history.publications.length, 1);
    for (const c of clients) c.kill();
  });

  it('answers history since a position, with a limit, and says when a position is no longer covered', async () => {
    for (let i = 1; i <= 5; i++) await api(server, 'publish', { channel: 'log', data: `entry ${i}` });
    const all = (await (await api(server, 'history', { channel: 'log' })).json()) as {
      epoch: string;
      offset: number;
      publications: { offset: number; data: string }[];
    };
    assert.equal(all.offset, 5);
    const since = (await (
      await api(server, 'history', { channel: 'log', since: { epoch: all.epoch, offset: 2 }, limit: 2 })
    ).json()) as {
      recovered: boolean;
      publications: { offset: number; data: string }[];
    };
    assert.equal(since.recovered, true);
    assert.deepEqual(
      since.publications.map((p) => p.data),
      ['entry 3', 'entry 4'],
    );
    const other = (await (
      await api(server, 'history', { channel: 'log', since: { epoch: 'old', offset: 2 } })
    ).json()) as {
      recovered: boolean;
      reason: string;
    };
    assert.deepEqual([other.recovered, other.reason], [false, 'epoch']);
  });

  it('lists presence and gives info', async () => {
    const member = await wsClient(server.url);
    await member.send({ type: 'subscribe', id: 1, channel: 'room', presence: true });
    await member.next('subscribed');
    const presence = (await (await api(server, 'presence', { channel: 'room' })).json()) as {
      members: { session: string }[];
    };
    assert.deepEqual(
      presence.members.map((m) => m.session),
      [member.session],
    );
    const info = (await (await api(server, 'info', {})).json()) as {
      sessions: number;
      transports: { websocket: number };
    };
    assert.ok(info.sessions >= 1 && info.transports.websocket >= 1);
    member.kill();
  });

  it('refuses a missing or wrong key (401), bad input (400), other methods (404, 405)', async () => {
    assert.equal((await api(server, 'publish', { channel: 'x', data: 'y' }, null)).status, 401);
    assert.equal((await api(server, 'publish', { channel: 'x', data: 'y' }, `${KEY}x`)).status, 401);
    for (const body of [
      'not json',
      '[1]',
      { channel: 'bad channel!', data: 'y' },
      { channel: 'x', data: 7 },
      { channel: 'x', limit: 0 },
    ]) {
      const method =
        typeof body === 'object' && !Array.isArray(body) && 'limit' in body ? 'history' : 'publish';
      const res = await api(server, method, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(((await res.json()) as { code: string }).code, 'BAD_REQUEST');
    }
    assert.equal((await api(server, 'nothing', {})).status, 404);
    assert.equal((await fetch(`${server.url}/api/publish`)).status, 405);
    assert.equal((await server.hub.broker.recover('x', null)).top.offset, 0, 'nothing was published');
  });

  it('serves a backend written in Python (standard library only)', {
    skip: spawnSync('/usr/bin/python3', ['-c', '1']).status !== 0,
  }, async () => {
    const ws = await wsClient(server.url);
    await ws.send({ type: 'subscribe', id: 1, channel: 'from.python' });
    await ws.next('subscribed');
    const script = [
      'import json, sys, urllib.request',
      'req = urllib.request.Request(sys.argv[1] + "/api/publish", method="POST",',
      '    data=json.dumps({"channel": "from.python", "data": "hello from python"}).encode(),',
      '    headers={"Authorization": "apikey " + sys.argv[2], "Content-Type": "application/json"})',
      'print(urllib.request.urlopen(req).read().decode())',
    ].join('\n');
    // Asynchronously: the server answering it is in this process.
    const child = spawn('/usr/bin/python3', ['-c', script, server.url, KEY], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const [status] = (await once(child, 'exit')) as [number];
    assert.equal(status, 0, stderr);
    const answer = JSON.parse(stdout) as { offset: number };
    const m = await ws.next('message');
    assert.deepEqual([m.data, m.offset], ['hello from python', answer.offset]);
    ws.kill();
  });

  it('is off (404) when no key is configured', async () => {
    const plain = await startServer({ port: 0, demo: false });
    try {
      assert.equal((await api(plain, 'publish', { channel: 'x', data: 'y' })).status, 404);
    } finally {
      await plain.close();
    }
  });
});
