import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { HubAccess, TokenError } from '../../src/server/hub-access.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { pollingClient, post, sseClient, wsClient } from '../support/hub-clients.js';

const SECRET = 'a test secret of at least 32 bytes!!';
const url = (query: string) => new URL(`http://h/ws${query}`);

async function token(
  claims: Record<string, unknown>,
  options: { secret?: string; expires?: string | number; alg?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setIssuedAt();
  if (options.expires !== undefined) jwt.setExpirationTime(options.expires);
  return jwt.sign(Buffer.from(options.secret ?? SECRET));
}

describe('HubAccess', () => {
  const access = new HubAccess({ tokenSecret: SECRET, origins: ['https://app.example'] });

  it('reads the user and channels of a valid token, from the query or a Bearer header', async () => {
    const t = await token({ sub: 'ann', channels: ['chat.*'] }, { expires: '1h' });
    assert.deepEqual(await access.identify(url(`?token=${t}`), undefined), {
      user: 'ann',
      channels: ['chat.*'],
    });
    assert.deepEqual(await access.identify(url(''), `Bearer ${t}`), { user: 'ann', channels: ['chat.*'] });
    const open = await token({ sub: 'bob' });
    assert.deepEqual(await access.identify(url(`?token=${open}`), undefined), {
      user: 'bob',
      channels: null,
    });
  });

  it('refuses a missing, forged, expired, malformed or sub-less token, each with its reason', async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ['', undefined, /required/],
      [
        `?token=${await token({ sub: 'ann' }, { secret: 'another secret of at least 32 bytes!' })}`,
        undefined,
        /signature/,
      ],
      [
        `?token=${await token({ sub: 'ann' }, { expires: Math.floor(Date.now() / 1000) - 60 })}`,
        undefined,
        /expired/,
      ],
      ['?token=not.a.jwt', undefined, /malformed/],
      [`?token=${await token({ user: 'ann' })}`, undefined, /no sub/],
      [`?token=${await token({ sub: 'ann', channels: 'chat.*' })}`, undefined, /channels/],
      ['', 'Basic abc', /required/],
    ];
    for (const [query, header, reason] of cases) {
      await assert.rejects(
        access.identify(url(query), header),
        (e: unknown) => e instanceof TokenError && reason.test(e.message),
      );
    }
  });

  it('allows listed origins and requests without one, refuses others', () => {
    assert.equal(access.originAllowed('https://app.example'), true);
    assert.equal(access.originAllowed(undefined), true);
    assert.equal(access.originAllowed('https://evil.example'), false);
    assert.equal(access.originAllowed('null'), false);
    assert.equal(new HubAccess().originAllowed('https://anything.example'), true);
  });

  it('refuses a secret too short for HS256', () => {
    assert.throws(() => new HubAccess({ tokenSecret: 'short' }), RangeError);
  });
});

describe('conduit serve: tokens and origins on every hub transport', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({
      port: 0,
      access: { tokenSecret: SECRET, origins: ['https://app.example'] },
      hubHttp: { pollTimeoutMs: 500 },
    });
  });
  after(() => server.close());

  it('a WebSocket without a valid token gets TOKEN_INVALID and close code 4001', async () => {
    for (const query of [
      '',
      `?token=${await token({ sub: 'ann' }, { secret: 'forged secret forged secret forged!!' })}`,
    ]) {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws${query}`, 'conduit.v1');
      const got: string[] = [];
      ws.on('message', (data) => got.push(String(data)));
      const code = await new Promise<number>((resolve) => ws.on('close', resolve));
      assert.equal(code, 4001);
      assert.equal(JSON.parse(got[0]!).code, 'TOKEN_INVALID');
    }
  });

  it('SSE, long-polling and POST without a valid token get 401 TOKEN_INVALID', async () => {
    for (const path of ['/hub/sse', '/hub/poll?t=abcdefghijklmnopqrst']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { code: string }).code, 'TOKEN_INVALID');
    }
    assert.equal((await post(server.url, 'x', [{ type: 'ping' }])).status, 401);
  });

  it('a token limits the channels: a refused subscribe or publish gets FORBIDDEN, on every transport', async () => {
    const t = await token({ sub: 'ann', channels: ['chat.*'] }, { expires: '1h' });
    const clients = [
      await wsClient(server.url, `?token=${t}`),
      await sseClient(server.url, `?token=${t}`, `&token=${t}`),
      await pollingClient(server.url, `?token=${t}`, `&token=${t}`),
    ];
    for (const c of clients) {
      await c.send({ type: 'subscribe', id: 1, channel: 'chat.lobby' });
      assert.equal((await c.next('subscribed')).channel, 'chat.lobby');
      await c.send({ type: 'subscribe', id: 2, channel: 'admin' });
      const refused = await c.next('error');
      assert.deepEqual([refused.id, refused.code], [2, 'FORBIDDEN']);
      await c.send({ type: 'publish', id: 3, channel: 'admin', data: 'x', cmid: 'c1' });
      assert.deepEqual([(await c.next('error')).code], ['FORBIDDEN']);
      c.kill();
    }
    assert.equal((await server.hub.broker.recover('admin', null)).publications.length, 0);
  });

  it('a session cannot be used or resumed with another user token', async () => {
    const ann = await token({ sub: 'ann' }, { expires: '1h' });
    const eve = await token({ sub: 'eve' }, { expires: '1h' });
    const sse = await sseClient(server.url, `?token=${ann}`, `&token=${ann}`);
    assert.equal((await post(server.url, sse.key, [{ type: 'ping' }], `&token=${eve}`)).status, 403);
    sse.kill();
    const stolen = await wsClient(server.url, `?token=${eve}&session=${sse.key}`);
    assert.equal((await stolen.next('error')).code, 'SESSION_UNKNOWN');
    assert.notEqual((await stolen.next('connected')).session, sse.session);
    stolen.kill();
  });

  it('a page from an origin not on the list is refused with 403 on every transport', async () => {
    const t = await token({ sub: 'ann' });
    const headers = { origin: 'https://evil.example' };
    for (const path of ['/hub/sse', '/hub/poll?t=abcdefghijklmnopqrst', '/hub/send?session=x']) {
      const res = await fetch(`${server.url}${path}${path.includes('?') ? '&' : '?'}token=${t}`, {
        headers,
        method: path.startsWith('/hub/send') ? 'POST' : 'GET',
      });
      assert.equal(res.status, 403, path);
    }
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?token=${t}`, 'conduit.v1', headers);
    const status = await new Promise<number>((resolve) =>
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    assert.equal(status, 403);
    // The allowed origin gets CORS headers on the HTTP transports.
    const ok = await fetch(`${server.url}/hub/poll?t=abcdefghijklmnopqrstu&token=${t}`, {
      headers: { origin: 'https://app.example' },
    });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    await ok.text();
  });
});
