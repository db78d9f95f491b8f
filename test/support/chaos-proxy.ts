/**
 * A TCP proxy that kills connections: every connection through it is destroyed, both ways and without
 * a goodbye, after a random lifetime (as a flaky network or a load balancer restart would). Whatever
 * the protocol on top (WebSocket, SSE, long-polls, POSTs), the peers see a dead socket.
 */
import type { Rng } from './random.js';
import { startTcpProxy } from './tcp-proxy.js';

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
  let kills = 0;
  let calm = false;
  const proxy = await startTcpProxy(
    () => target.port,
    (client, upstream) => {
      if (calm) return;
      const timer = setTimeout(
        () => {
          if (client.destroyed) return;
          kills++;
          client.destroy();
          upstream.destroy();
        },
        rng.between(lifetimeMs.min, lifetimeMs.max),
      );
      client.on('close', () => clearTimeout(timer));
    },
  );
  return {
    url: proxy.url,
    get kills() {
      return kills;
    },
    calm: () => {
      calm = true;
    },
    close: () => proxy.close(),
  };
}
