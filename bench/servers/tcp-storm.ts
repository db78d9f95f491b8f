/**
 * The connection-storm ceiling: a node:net server that reads each upgrade request, answers a fixed 101
 * (tcp-upgrade.ts, no extension) and keeps the socket open and idle: per connection, a socket and
 * nothing else. Started with --expose-gc, like the WebSocket servers.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { startHarness } from './harness.js';
import { answerIdleMemoryRequests } from './idle-memory.js';
import { acceptUpgrade } from './tcp-upgrade.js';

const upgraded = new Set<Socket>();
const server = createServer((socket) => {
  // Both WebSocket servers turn Nagle off on their sockets too.
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => upgraded.delete(socket));
  acceptUpgrade(socket, () => upgraded.add(socket));
});
const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      for (const socket of upgraded) socket.destroy();
      server.close(() => resolve());
    }),
);
answerIdleMemoryRequests(() => upgraded.size);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  harness.ready(port, `node:net, fixed 101 (no extension), then an idle socket`);
});
