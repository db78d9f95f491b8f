/**
 * Fan-out server under test: Socket.IO 4 with its default in-memory adapter. Every subscriber joins
 * the room 'bench' on connection; the publisher (fanout-publisher.ts, the same as for every server)
 * emits each event to the room: `io.to('bench').emit('tick', text)`, which Socket.IO encodes once and
 * writes to every socket of the room. WebSocket transport only (the load generator does not poll),
 * per-message deflate off (Socket.IO's default).
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { fanoutPlan, startPublisher } from './fanout-publisher.js';
import { startHarness } from './harness.js';
import { answerIdleMemoryRequests } from './idle-memory.js';

fanoutPlan();
const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
const sockets = new Set<Socket>();
io.on('connection', (socket) => {
  sockets.add(socket);
  void socket.join('bench');
  socket.on('disconnect', () => sockets.delete(socket));
});
const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      io.close(() => resolve());
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
  const version = (createRequire(import.meta.url)('socket.io/package.json') as { version: string }).version;
  harness.ready(
    port,
    `socket.io ${version}, WebSocket only, in-memory adapter, io.to(room).emit('tick', text)`,
  );
});
