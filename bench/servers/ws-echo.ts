/**
 * Server under test: ws's WebSocketServer echoing every message with its type, with the bufferutil
 * addon. The readiness message says which masking kernel ws actually loaded, read from ws's own
 * lib/buffer-util.js, so a silent fallback to JavaScript cannot go unnoticed.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { startHarness } from './harness.js';
import { wsMaskingKernel } from './ws-masking.js';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/echo', perMessageDeflate: false });
const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
);
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => {
    socket.send(data as Buffer, { binary: isBinary });
  });
});
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  harness.ready(port, wsMaskingKernel());
});
