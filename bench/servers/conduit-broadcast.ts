/**
 * Broadcast server under test: Conduit's WebSocketServer.broadcast(), which frames the message once
 * and writes the same bytes to every client (corked until the next tick), in the loop of pacing.ts.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/index.js';
import { broadcastPlan } from './broadcast-plan.js';
import { startHarness } from './harness.js';
import { broadcastPayload, startBroadcastLoop } from './pacing.js';

const plan = broadcastPlan();
const payload = broadcastPayload();
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/broadcast' });
const harness = startHarness(() => {
  for (const client of wss.clients) client.terminate();
  return wss.close();
});
wss.on('connection', (socket) => {
  // Resets are expected when the load generator leaves with frames still in flight.
  socket.on('error', () => undefined);
});
startBroadcastLoop(
  {
    clients: wss.clients,
    backlog: (client) => client.bufferedAmount,
    broadcastOnce: () => {
      wss.broadcast(payload, { binary: true });
    },
  },
  plan.clients,
  plan.perBatch,
);
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  const profiled = process.execArgv.some((a) => a.startsWith('--cpu-prof'));
  harness.ready(port, `conduit, server.broadcast()${profiled ? ', under --cpu-prof' : ''}`);
});
