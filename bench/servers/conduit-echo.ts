/** Server under test: Conduit's WebSocketServer echoing every message with its type. */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/index.js';
import { simdMaskAvailable } from '../../src/util/mask-simd.js';
import { startHarness } from './harness.js';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/echo' });
const harness = startHarness(() => {
  // Do not wait for closing handshakes: the load generator is already gone or going.
  for (const client of wss.clients) client.terminate();
  return wss.close();
});
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => {
    socket.send(data, { binary: isBinary });
  });
});
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  const profiled = process.execArgv.some((a) => a.startsWith('--cpu-prof'));
  const kernel = simdMaskAvailable
    ? 'WebAssembly SIMD masking, no native addon'
    : 'scalar TypeScript masking';
  harness.ready(port, `conduit (${kernel})${profiled ? ', under --cpu-prof' : ''}`);
});
