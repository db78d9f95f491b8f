/**
 * A Redis server of a test's own (Debian's redis-server), on a free port: for tests that kill and
 * restart it, or that need a password. `persistent` keeps an append-only file synced on every write,
 * so a SIGKILL loses nothing acknowledged.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { consecutiveFreePorts } from './ports.js';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** Kill it (SIGKILL) and wait until it is gone. */
  kill(): Promise<void>;
  /** Start it again on the same port (and files), and wait until it answers. */
  start(): Promise<void>;
}

export async function startTestRedis(
  options: { persistent?: boolean; password?: string; args?: string[] } = {},
): Promise<TestRedis> {
  // Below the ephemeral range: restarted on its port, it finds it free.
  const port = await consecutiveFreePorts(1);
  const dir = await mkdtemp(join(tmpdir(), 'conduit-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir];
  args.push('--appendonly', options.persistent === true ? 'yes' : 'no');
  if (options.persistent === true) args.push('--appendfsync', 'always');
  if (options.password !== undefined) args.push('--requirepass', options.password);
  if (options.args !== undefined) args.push(...options.args);
  let child: ChildProcess | null = null;
  const answers = async (): Promise<boolean> =>
    (await askRedis(port, (probe) => probe.ping(), options.password)) === 'PONG';
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill() {
      if (child === null || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
    async start() {
      child = spawn('redis-server', args, { stdio: 'ignore' });
      for (let i = 0; i < 100 && !(await answers()); i++) await new Promise((r) => setTimeout(r, 50));
    },
  };
  await redis.start();
  return redis;
}

/** One question to the Redis on `port` over a connection of its own, without retries: null if it cannot answer. */
export async function askRedis<T>(
  port: number,
  ask: (redis: Redis) => Promise<T>,
  password?: string,
): Promise<T | null> {
  const redis = new Redis({
    port,
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await ask(redis);
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}
