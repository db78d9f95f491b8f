/**
 * Connection-storm server under test: ws with bufferutil and perMessageDeflate: true (its defaults,
 * which negotiate), accepting connections and leaving them idle. Started with --expose-gc.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { startHarness } from './harness.js';
import { answerIdleMemoryRequests } from './idle-memory.js';

const require = createRequire(import.meta.url);
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/storm', perMessageDeflate: true });
const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
);
answerIdleMemoryRequests(() => wss.clients.size);
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  const version = (require('ws/package.json') as { version: string }).version;
  harness.ready(port, `ws ${version}, perMessageDeflate: true`);
});
