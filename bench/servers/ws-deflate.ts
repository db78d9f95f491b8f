/**
 * Server under test: ws's WebSocketServer with permessage-deflate as it is usually turned on,
 * `perMessageDeflate: true`: ws's defaults (context takeover both ways, threshold 1024 bytes, at most
 * 10 zlib operations at once on libuv's thread pool), bufferutil installed. Echoes every message with
 * its type.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { startHarness } from './harness.js';
import { answerMemoryRequests } from './memory-probe.js';
import { wsMaskingKernel } from './ws-masking.js';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/echo', perMessageDeflate: true });
const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
);
answerMemoryRequests(() => wss.clients.size);
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => {
    socket.send(data as Buffer, { binary: isBinary });
  });
  socket.on('error', () => undefined);
});
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  harness.ready(port, `${wsMaskingKernel()}, perMessageDeflate: true (ws defaults)`);
});
