/**
 * A TCP proxy that kills connections: every connection through it is destroyed, both ways and without
 * a goodbye, after a random lifetime (as a flaky network or a load balancer restart would). Whatever
 * the protocol on top (WebSocket, SSE, long-polls, POSTs), the peers see a dead socket.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Rng } from './random.js';

export interface ChaosProxy {
  readonly url: string;
  /** Connections destroyed by the proxy so far. */
  readonly kills: number;
  /** Stop killing (connections made from now on live until their peers end them). */
  calm(): void;
  close(): Promise<void>;
}

export async function startChaosProxy(
  target: { host: string; port: number },
  rng: Rng,
  lifetimeMs: { min: number; max: number },
): Promise<ChaosProxy> {
  const sockets = new Set<Socket>();
  let kills = 0;
  let calm = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    if (calm) return;
    const lifetime = rng.between(lifetimeMs.min, lifetimeMs.max);
    const timer = setTimeout(() => {
      if (client.destroyed) return;
      kills++;
      client.destroy();
      upstream.destroy();
    }, lifetime);
    client.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get kills() {
      return kills;
    },
    calm: () => {
      calm = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
