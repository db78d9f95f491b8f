/**
 * A TCP proxy on 127.0.0.1, the base of the tests' balancer and chaos proxy: each connection is piped
 * both ways to the port `pick()` names; either side's end ends the other; `onPair` sees every pair
 * (to kill it later, say). `close()` drops every connection and stops listening.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  readonly url: string;
  /** Drop every connection now (the proxy keeps listening). */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(
  pick: () => number,
  onPair: (client: Socket, upstream: Socket) => void = () => undefined,
): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: pick() });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    onPair(client, upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : 0;
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    dropAll,
    close: () =>
      new Promise<void>((resolve) => {
        dropAll();
        server.close(() => resolve());
      }),
  };
}
