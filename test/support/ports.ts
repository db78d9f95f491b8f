/** Free TCP ports on 127.0.0.1 for servers a test starts on a port of its choosing. */
import { createServer } from 'node:net';

async function tryListen(port: number): Promise<number | null> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) return null;
  const address = server.address();
  const chosen = address !== null && typeof address === 'object' ? address.port : null;
  await new Promise((resolve) => server.close(resolve));
  return chosen;
}

/** A port the system says is free now. */
export async function freePort(): Promise<number> {
  return (await tryListen(0))!;
}

/**
 * `count` consecutive free ports, below Linux's ephemeral range (32768 and up) so that no client
 * connection of another test takes one meanwhile.
 */
export async function consecutiveFreePorts(count: number): Promise<number> {
  return findPorts(count, 20_000, 12_000, [0]);
}

/**
 * `count` consecutive free ports whose port + 10,000 is free too (a Redis Cluster node's bus port),
 * all below the ephemeral range.
 */
export async function clusterNodePorts(count: number): Promise<number> {
  return findPorts(count, 10_000, 12_000, [0, 10_000]);
}

async function findPorts(count: number, from: number, span: number, offsets: number[]): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = from + Math.floor(Math.random() * span);
    let free = true;
    for (let i = 0; i < count && free; i++) {
      for (const offset of offsets) free = free && (await tryListen(base + i + offset)) !== null;
    }
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
