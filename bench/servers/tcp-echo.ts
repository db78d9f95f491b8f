/**
 * The ceiling: a bare TCP echo server in Node (node:net) that moves the same bytes as the WebSocket
 * servers without parsing them: every chunk read is written straight back, the chunks of one
 * event-loop turn in one writev.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { startHarness } from './harness.js';

/** Outbound bytes above which reading pauses until they drain. */
const SAFETY_LIMIT = 64 * 1024 * 1024;

const sockets = new Set<Socket>();
const server = createServer((socket) => {
  sockets.add(socket);
  socket.setNoDelay(true);
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.on('data', (chunk: Buffer) => {
    // Chunks read in the same event-loop turn go back in one writev.
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    socket.write(chunk);
    // The load generator bounds what is in flight, so this is only a safety net: pausing at the
    // socket's 16 KiB high-water mark would cost a pause/resume per chunk and lower the ceiling.
    if (socket.writableLength > SAFETY_LIMIT && !socket.isPaused()) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => sockets.delete(socket));
});
const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  harness.ready(port, `node:net echo (node ${process.version})`);
});
