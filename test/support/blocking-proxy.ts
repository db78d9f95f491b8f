/**
 * An HTTP proxy in front of a server that passes plain requests (streamed both ways: SSE and long-polls
 * work) and blocks WebSocket upgrades, as some corporate proxies do: 'refuse' answers them 403, 'hang'
 * takes them and never answers.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface BlockingProxy {
  readonly url: string;
  /** Upgrade requests seen. */
  readonly upgrades: number;
  /** When the first one came (Date.now()), or null. */
  readonly firstUpgradeAt: number | null;
  close(): Promise<void>;
}

export async function startBlockingProxy(target: string, mode: 'refuse' | 'hang'): Promise<BlockingProxy> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  let upgrades = 0;
  let firstUpgradeAt: number | null = null;
  const server: Server = createServer((req, res) => {
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (_req, socket: Socket) => {
    upgrades++;
    firstUpgradeAt ??= Date.now();
    if (mode === 'refuse')
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    // 'hang': keep the socket open, answer nothing.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get upgrades() {
      return upgrades;
    },
    get firstUpgradeAt() {
      return firstUpgradeAt;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
