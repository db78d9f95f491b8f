/**
 * Server under test: ws's WebSocketServer echoing every message with its type, with the bufferutil
 * addon. The readiness message says which masking kernel ws actually loaded, read from ws's own
 * lib/buffer-util.js, so a silent fallback to JavaScript cannot go unnoticed.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { WebSocketServer } from 'ws';
import { startHarness } from './harness.js';

const require = createRequire(import.meta.url);

function maskingKernel(): string {
  const wsDir = dirname(require.resolve('ws'));
  const wsVersion = (require('ws/package.json') as { version: string }).version;
  const bufferUtil = require(join(wsDir, 'lib', 'buffer-util.js')) as { mask: () => void };
  const source = bufferUtil.mask.toString();
  let kernel: string;
  if (source.includes('bufferUtil.mask')) {
    const addon = require('bufferutil') as { mask: () => void };
    const native = addon.mask.toString().includes('[native code]');
    kernel = native ? 'bufferutil (native addon)' : 'bufferutil (JS fallback!)';
  } else if (source.includes('websocketMask')) {
    kernel = 'node:http websocketMask';
  } else {
    kernel = 'JavaScript (no bufferutil!)';
  }
  const env = process.env.WS_NO_BUFFER_UTIL;
  return `ws ${wsVersion}, masking: ${kernel}, WS_NO_BUFFER_UTIL=${env === undefined ? 'unset' : env}`;
}

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
  harness.ready(port, maskingKernel());
});
