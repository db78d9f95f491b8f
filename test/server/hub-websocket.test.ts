import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { wsClient } from '../support/hub-clients.js';

let server: RunningServer;
before(async () => {
  server = await startServer({ port: 0 });
});
after(() => server.close());

describe('conduit serve: the hub over WebSocket (/ws, conduit.v1)', () => {
  it('subscribes, publishes with an ack, delivers to the other subscriber, and resumes a session on a new socket', async () => {
    const reader = await wsClient(server.url);
    const writer = await wsClient(server.url);
    const hello = await writer.next('connected');
    assert.equal(hello.transport, 'websocket');
    assert.equal(writer.ws.protocol, 'conduit.v1');
    await reader.send({ type: 'subscribe', id: 1, channel: 'room' });
    await reader.next('subscribed');
    await writer.send({ type: 'publish', id: 2, channel: 'room', data: 'hello', cmid: 'w-1' });
    const ack = await writer.next('ack');
    const message = await reader.next('message');
    assert.deepEqual([message.data, message.offset, message.epoch], ['hello', ack.offset, ack.epoch]);

    // The writer's socket dies; it comes back with its session and retries the same cmid.
    writer.kill();
    const again = await wsClient(server.url, `?session=${hello.key}`);
    const resumed = await again.next('connected');
    assert.deepEqual([resumed.session, resumed.resumed], [hello.session, true]);
    await again.send({ type: 'publish', id: 1, channel: 'room', data: 'hello', cmid: 'w-1' });
    assert.equal((await again.next('ack')).offset, ack.offset);
    await again.send({ type: 'publish', id: 2, channel: 'room', data: 'second', cmid: 'w-2' });
    await again.next('ack');
    const second = await reader.next('message');
    assert.deepEqual([second.data, second.offset], ['second', ack.offset + 1]);
    reader.ws.close();
    again.ws.close();
  });

  it('ends the session at once on a clean close (1000, 1001) and keeps it through any other end', async () => {
    const watcher = await wsClient(server.url);
    await watcher.send({ type: 'subscribe', id: 1, channel: 'lobby', presence: true });
    await watcher.next('subscribed');
    for (const [end, endsSession] of [
      [(ws: WebSocket) => ws.close(1000), true],
      [(ws: WebSocket) => ws.close(1001), true],
      [(ws: WebSocket) => ws.close(4000, 'dropped'), false],
      [(ws: WebSocket) => ws.terminate(), false],
    ] as const) {
      const member = await wsClient(server.url);
      await member.send({ type: 'subscribe', id: 1, channel: 'lobby', presence: true });
      await member.next('subscribed');
      assert.equal((await watcher.next('join')).member.session, member.session);
      const leaves = () => watcher.got.filter((m) => m.type === 'leave').length;
      const before = leaves();
      end(member.ws);
      if (endsSession) {
        assert.equal((await watcher.next('leave')).member.session, member.session);
        assert.equal(server.hub.session(member.session), undefined);
      } else {
        await new Promise((r) => setTimeout(r, 200));
        assert.notEqual(server.hub.session(member.session), undefined, 'kept for a resume');
        assert.equal(leaves(), before, 'no leave');
        // Its client comes back and says bye: the session ends and presence leaves.
        const back = await wsClient(server.url, `?session=${member.key}`);
        assert.equal((await back.next('connected')).resumed, true);
        await back.send({ type: 'bye' });
        assert.equal((await watcher.next('leave')).member.session, member.session);
      }
    }
    watcher.kill();
  });

  it('closes with 1002 a client that does not offer conduit.v1, and answers bad input with an error code', async () => {
    const plain = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    const code = await new Promise<number>((resolve) => plain.on('close', (c) => resolve(c)));
    assert.equal(code, 1002);
    const c = await wsClient(server.url);
    c.ws.send('{"type":"subscribe","id":1,"channel":"no spaces"}');
    const error = await c.next('error');
    assert.deepEqual([error.id, error.code], [1, 'BAD_CHANNEL']);
    c.ws.close();
  });
});
