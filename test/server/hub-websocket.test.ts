import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { ServerMessage } from '../../src/protocol/hub/messages.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';

let server: RunningServer;
before(async () => {
  server = await startServer({ port: 0 });
});
after(() => server.close());

/** A `ws` client on /ws with conduit.v1, keeping every server message it receives. */
async function client(
  query = '',
): Promise<{ ws: WebSocket; got: ServerMessage[]; next: (type: string) => Promise<ServerMessage> }> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws${query}`, 'conduit.v1');
  const got: ServerMessage[] = [];
  const waiters: { type: string; resolve: (m: ServerMessage) => void }[] = [];
  let taken = 0;
  ws.on('message', (data) => {
    got.push(JSON.parse(String(data)) as ServerMessage);
    for (const w of [...waiters]) {
      const found = got.slice(taken).find((m) => m.type === w.type);
      if (found !== undefined) {
        taken = got.indexOf(found) + 1;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(found);
      }
    }
  });
  const next = (type: string) =>
    new Promise<ServerMessage>((resolve, reject) => {
      const found = got.slice(taken).find((m) => m.type === type);
      if (found !== undefined) {
        taken = got.indexOf(found) + 1;
        resolve(found);
        return;
      }
      const timer = setTimeout(() => reject(new Error(`no ${type} message`)), 5000);
      waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, got, next };
}

describe('conduit serve: the hub over WebSocket (/ws, conduit.v1)', () => {
  it('subscribes, publishes with an ack, delivers to the other subscriber, and resumes a session on a new socket', async () => {
    const reader = await client();
    const writer = await client();
    const hello = (await writer.next('connected')) as Extract<ServerMessage, { type: 'connected' }>;
    assert.equal(hello.transport, 'websocket');
    assert.equal(writer.ws.protocol, 'conduit.v1');
    reader.ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'room' }));
    await reader.next('subscribed');
    writer.ws.send(JSON.stringify({ type: 'publish', id: 2, channel: 'room', data: 'hello', cmid: 'w-1' }));
    const ack = (await writer.next('ack')) as Extract<ServerMessage, { type: 'ack' }>;
    const message = (await reader.next('message')) as Extract<ServerMessage, { type: 'message' }>;
    assert.deepEqual([message.data, message.offset, message.epoch], ['hello', ack.offset, ack.epoch]);

    // The writer's socket dies; it comes back with its session and retries the same cmid.
    writer.ws.terminate();
    const again = await client(`?session=${hello.session}`);
    const resumed = (await again.next('connected')) as Extract<ServerMessage, { type: 'connected' }>;
    assert.deepEqual([resumed.session, resumed.resumed], [hello.session, true]);
    again.ws.send(JSON.stringify({ type: 'publish', id: 1, channel: 'room', data: 'hello', cmid: 'w-1' }));
    const retried = (await again.next('ack')) as Extract<ServerMessage, { type: 'ack' }>;
    assert.equal(retried.offset, ack.offset);
    again.ws.send(JSON.stringify({ type: 'publish', id: 2, channel: 'room', data: 'second', cmid: 'w-2' }));
    await again.next('ack');
    const second = (await reader.next('message')) as Extract<ServerMessage, { type: 'message' }>;
    assert.deepEqual([second.data, second.offset], ['second', ack.offset + 1]);
    reader.ws.close();
    again.ws.close();
  });

  it('closes with 1002 a client that does not offer conduit.v1, and answers bad input with an error code', async () => {
    const plain = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    const code = await new Promise<number>((resolve) => plain.on('close', (c) => resolve(c)));
    assert.equal(code, 1002);
    const c = await client();
    c.ws.send('{"type":"subscribe","id":1,"channel":"no spaces"}');
    const error = (await c.next('error')) as Extract<ServerMessage, { type: 'error' }>;
    assert.deepEqual([error.id, error.code], [1, 'BAD_CHANNEL']);
    c.ws.close();
  });
});
