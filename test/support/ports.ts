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
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let free = true;
    for (let i = 0; i < count && free; i++) free = (await tryListen(base + i)) !== null;
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
