/**
 * A TCP load balancer without stickiness: each new connection goes to the next backend in turn, as a
 * round-robin balancer in front of several Conduit nodes would send it. `kill()` drops every
 * connection (the clients reconnect, and land elsewhere).
 */
import { startTcpProxy } from './tcp-proxy.js';

export interface Balancer {
  readonly url: string;
  /** Backend ports chosen so far, in order. */
  readonly picks: number[];
  kill(): void;
  close(): Promise<void>;
}

export async function startRoundRobin(ports: readonly number[]): Promise<Balancer> {
  const picks: number[] = [];
  let next = 0;
  const proxy = await startTcpProxy(() => {
    const port = ports[next++ % ports.length]!;
    picks.push(port);
    return port;
  });
  return { url: proxy.url, picks, kill: () => proxy.dropAll(), close: () => proxy.close() };
}
