/**
 * The broadcast ceiling: a node:net server that answers each client's upgrade request with a fixed
 * 101 (tcp-upgrade.ts) and then writes the same pre-built 66-byte frame (2-byte header, 64-byte
 * payload) to every socket, in the loop of pacing.ts. Writes are corked until the next tick, as
 * Conduit's broadcast does, so the frames of one batch leave in one writev per socket: what Node's
 * sockets allow, without framing or any per-message work.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { broadcastPlan } from './broadcast-plan.js';
import { startHarness } from './harness.js';
import { broadcastPayload, startBroadcastLoop } from './pacing.js';
import { acceptUpgrade } from './tcp-upgrade.js';

const plan = broadcastPlan();
const payload = broadcastPayload();
const frame = Buffer.concat([Buffer.from([0x82, payload.length]), payload]);
const clients = new Set<Socket>();
const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => clients.delete(socket));
  acceptUpgrade(socket, () => clients.add(socket));
});

let corked = false;
const uncorkAll = (): void => {
  corked = false;
  for (const socket of clients) socket.uncork();
};

const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      for (const socket of clients) socket.destroy();
      server.close(() => resolve());
    }),
);
startBroadcastLoop(
  {
    clients,
    backlog: (socket) => socket.writableLength,
    broadcastOnce: () => {
      if (!corked) {
        corked = true;
        for (const socket of clients) socket.cork();
        process.nextTick(uncorkAll);
      }
      for (const socket of clients) socket.write(frame);
    },
  },
  plan.clients,
  plan.perBatch,
);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  harness.ready(port, `node:net, fixed 101 then one frame buffer written to every socket`);
});
