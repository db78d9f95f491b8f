/**
 * A TCP load balancer without stickiness: each new connection goes to the next backend in turn, as a
 * round-robin balancer in front of several Conduit nodes would send it. `kill()` drops every
 * connection (the clients reconnect, and land elsewhere).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface Balancer {
  readonly url: string;
  /** Backend ports chosen so far, in order. */
  readonly picks: number[];
  kill(): void;
  close(): Promise<void>;
}

export async function startRoundRobin(ports: readonly number[]): Promise<Balancer> {
  const sockets = new Set<Socket>();
  const picks: number[] = [];
  let next = 0;
  const server: Server = createServer((client) => {
    const port = ports[next++ % ports.length]!;
    picks.push(port);
    const upstream = createConnection({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    picks,
    kill: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
