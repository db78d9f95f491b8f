/**
 * Broadcast server under test: ws with bufferutil, broadcasting the way its README shows, one send()
 * per open client, in the loop of pacing.ts.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { broadcastPlan } from './broadcast-plan.js';
import { startHarness } from './harness.js';
import { broadcastPayload, startBroadcastLoop } from './pacing.js';

const require = createRequire(import.meta.url);
const plan = broadcastPlan();
const payload = broadcastPayload();
const wss = new WebSocketServer({
  port: 0,
  host: '127.0.0.1',
  path: '/broadcast',
  perMessageDeflate: false,
});
const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
);
wss.on('connection', (socket) => {
  socket.on('error', () => undefined);
});
startBroadcastLoop(
  {
    clients: wss.clients,
    backlog: (client) => client.bufferedAmount,
    broadcastOnce: () => {
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(payload, { binary: true });
      }
    },
  },
  plan.clients,
  plan.perBatch,
);
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  const version = (require('ws/package.json') as { version: string }).version;
  harness.ready(port, `ws ${version}, for (const c of wss.clients) c.send(data, { binary: true })`);
});
