/**
 * Fan-out server under test: Socket.IO 4 with its default in-memory adapter. Every subscriber joins
 * the room 'bench' on connection; the publisher (fanout-publisher.ts, the same as for every server)
 * emits each event to the room: `io.to('bench').emit('tick', text)`, which Socket.IO encodes once and
 * writes to every socket of the room. WebSocket transport only (the load generator does not poll),
 * per-message deflate off (Socket.IO's default). With `plan.redis` the server is one node of several
 * on @socket.io/redis-adapter (the adapter Socket.IO documents for several nodes; ioredis clients).
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server, type Socket } from 'socket.io';
import { fanoutPlan, startPublisher } from './fanout-publisher.js';
import { startHarness } from './harness.js';
import { answerIdleMemoryRequests } from './idle-memory.js';

const plan = fanoutPlan();
const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
// One node of several (cross-node scenario): the Redis adapter forwards every room emit to the others.
const redis =
  plan.redis === undefined
    ? null
    : {
        pub: new Redis(plan.redis.url),
        sub: new Redis(plan.redis.url),
        key: `${plan.redis.prefix}socket.io`,
      };
if (redis !== null) io.adapter(createAdapter(redis.pub, redis.sub, { key: redis.key }));
const sockets = new Set<Socket>();
io.on('connection', (socket) => {
  sockets.add(socket);
  void socket.join('bench');
  socket.on('disconnect', () => sockets.delete(socket));
});
const harness = startHarness(() =>
  new Promise<void>((resolve) => {
    io.close(() => resolve());
  }).then(() => {
    redis?.pub.disconnect();
    redis?.sub.disconnect();
  }),
);

/** The bytes Engine.IO's WebSocket transport has not written yet (its `ws` socket's bufferedAmount). */
function backlog(socket: Socket): number {
  const transport = socket.conn.transport as unknown as { socket?: { bufferedAmount?: number } };
  return transport.socket?.bufferedAmount ?? 0;
}

startPublisher({ clients: sockets, backlog, publish: (text) => io.to('bench').emit('tick', text) });
answerIdleMemoryRequests(() => sockets.size);
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  const require = createRequire(import.meta.url);
  const version = (require('socket.io/package.json') as { version: string }).version;
  const adapter =
    redis === null
      ? 'in-memory adapter'
      : `@socket.io/redis-adapter ${(require('@socket.io/redis-adapter/package.json') as { version: string }).version} (Redis pub/sub, ioredis)`;
  const ready = redis === null ? Promise.resolve() : Promise.all([redis.pub.ping(), redis.sub.ping()]);
  ready.then(
    () =>
      harness.ready(port, `socket.io ${version}, WebSocket only, ${adapter}, io.to(room).emit('tick', text)`),
    (error: unknown) => {
      console.error(`Socket.IO's Redis clients are not ready: ${String(error)}`);
      process.exit(4);
    },
  );
});
