import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EventSource } from '../../src/index.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { collectEvents, waitForSubscribers } from '../support/sse.js';

let conduit: RunningServer;
before(async () => {
  conduit = await startServer({ port: 0, sse: { stream: { retryMs: 50, keepAliveMs: 0 } } });
});
after(() => conduit.close());

const publish = (channel: string, body: string) =>
  fetch(`${conduit.url}/publish?channel=${channel}`, { method: 'POST', body }).then((r) => r.json());

/** A plain HTTP server answering every request with `respond`; counts requests. */
async function rawServer(respond: (req: IncomingMessage, res: ServerResponse) => void) {
  const requests: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req);
    respond(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('EventSource (WHATWG interface, Node)', () => {
  it('opens, delivers messages with lastEventId and origin, and named events to their listeners', async () => {
    const source = new EventSource(`${conduit.url}/sse?channel=es1`);
    assert.equal(source.readyState, EventSource.CONNECTING);
    await once(source, 'open');
    assert.equal(source.readyState, EventSource.OPEN);
    await waitForSubscribers(conduit, 'es1', 1);
    const messages = collectEvents(source, 'message', 2);
    await publish('es1', 'one');
    await publish('es1', 'two');
    const [a, b] = await messages;
    assert.equal(a!.data, 'one');
    assert.equal(a!.lastEventId, '1');
    assert.equal(b!.lastEventId, '2');
    assert.equal(a!.origin, new URL(conduit.url).origin);
    source.close();
    assert.equal(source.readyState, EventSource.CLOSED);
  });

  it('reconnects after the stream ends, sends Last-Event-ID, and misses nothing', async () => {
    const source = new EventSource(`${conduit.url}/sse?channel=es2`);
    const errors: Event[] = [];
    source.onerror = (e) => errors.push(e);
    await once(source, 'open');
    await waitForSubscribers(conduit, 'es2', 1);
    const first = collectEvents(source, 'message', 2);
    await publish('es2', 'a');
    await publish('es2', 'b');
    await first;
    const rest = collectEvents(source, 'message', 5);
    conduit.channels.closeAll(); // the server ends every stream
    for (const m of ['c', 'd', 'e']) await publish('es2', m); // published while the client is away
    await waitForSubscribers(conduit, 'es2', 1); // it came back (after the 50 ms retry the server asked for)
    for (const m of ['f', 'g']) await publish('es2', m);
    const events = await rest;
    assert.deepEqual(
      events.map((e) => [e.lastEventId, e.data]),
      [
        ['3', 'c'],
        ['4', 'd'],
        ['5', 'e'],
        ['6', 'f'],
        ['7', 'g'],
      ],
    );
    assert.equal(errors.length, 1, 'one error event for the reconnection');
    assert.equal(source.readyState, EventSource.OPEN);
    source.close();
  });

  it('fails without reconnecting on a status other than 200 and on a wrong Content-Type', async () => {
    for (const respond of [
      (_: IncomingMessage, res: ServerResponse) => res.writeHead(404).end(),
      (_: IncomingMessage, res: ServerResponse) => res.writeHead(204).end(),
      (_: IncomingMessage, res: ServerResponse) =>
        res.writeHead(200, { 'content-type': 'text/plain' }).end('data: x\n\n'),
    ]) {
      const server = await rawServer(respond);
      try {
        const source = new EventSource(server.url, { retryMs: 10 });
        await once(source, 'error');
        assert.equal(source.readyState, EventSource.CLOSED);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(server.requests.length, 1, 'no reconnection');
      } finally {
        server.close();
      }
    }
  });

  it('sends extra headers, another method and a body, and follows a redirect', async () => {
    let seen: { method?: string; auth?: string; body: string; accept?: string } | null = null;
    const server = await rawServer((req, res) => {
      if (req.url === '/old') {
        res.writeHead(307, { location: '/new' }).end();
        return;
      }
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      req.on('end', () => {
        seen = { method: req.method, auth: req.headers.authorization, body, accept: req.headers.accept };
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: hi\n\n');
      });
    });
    try {
      const source = new EventSource(`${server.url}old`, {
        method: 'POST',
        body: '{"subscribe":"x"}',
        headers: { authorization: 'Bearer t' },
        retryMs: 10_000,
      });
      const [message] = await collectEvents(source, 'message', 1);
      assert.equal(message!.data, 'hi');
      assert.deepEqual(seen, {
        method: 'POST',
        auth: 'Bearer t',
        body: '{"subscribe":"x"}',
        accept: 'text/event-stream',
      });
      source.close();
    } finally {
      server.close();
    }
  });

  it('backs off with jitter while the server cannot be reached', async () => {
    const server = await rawServer(() => undefined);
    const url = server.url;
    server.close(); // nothing listens there any more: every attempt is refused
    const source = new EventSource(url, { retryMs: 20, maxRetryMs: 200 });
    const times: number[] = [];
    source.onerror = () => times.push(Date.now());
    await new Promise((r) => setTimeout(r, 700));
    source.close();
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Without backoff: ~35 attempts in 700 ms. With it: 20, 20-40, 40-80, 80-160, 100-200, ...
    assert.ok(times.length >= 3 && times.length <= 12, `${times.length} attempts`);
    assert.ok(
      gaps.slice(3).every((g) => g >= 40),
      `gaps ${gaps.join(', ')}`,
    );
  });
});
