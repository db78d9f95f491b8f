/**
 * Connection-storm server under test: Conduit's WebSocketServer with permessage-deflate in shared
 * mode, accepting connections and leaving them idle. Started with --expose-gc (idle-memory.ts).
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/index.js';
import { startHarness } from './harness.js';
import { answerIdleMemoryRequests } from './idle-memory.js';

const wss = new WebSocketServer({
  port: 0,
  host: '127.0.0.1',
  path: '/storm',
  perMessageDeflate: { mode: 'shared' },
});
const harness = startHarness(() => {
  for (const client of wss.clients) client.terminate();
  return wss.close();
});
answerIdleMemoryRequests(() => wss.clients.size);
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  harness.ready(port, `conduit, perMessageDeflate: { mode: 'shared' }`);
});
