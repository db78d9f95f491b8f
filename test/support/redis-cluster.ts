/**
 * A Redis Cluster of a test's own: three masters (Debian's redis-server with cluster-enabled, no
 * persistence, no replicas) on free ports, joined by `redis-cli --cluster create`, ready once every
 * node says cluster_state:ok.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clusterNodePorts } from './ports.js';
import { askRedis } from './redis-server.js';

export interface TestRedisCluster {
  readonly nodes: { host: string; port: number }[];
  /** SIGKILL every node (their cluster configuration files stay: `start` brings the same Cluster back). */
  kill(): Promise<void>;
  /** Start every node again on its port, and wait for cluster_state:ok (the data is gone: no persistence). */
  start(): Promise<void>;
  /** Kill every node and remove their files. */
  stop(): Promise<void>;
}

const run = promisify(execFile);

export async function startTestRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const base = await clusterNodePorts(masters);
  const dir = await mkdtemp(join(tmpdir(), 'conduit-redis-cluster-'));
  const nodes = Array.from({ length: masters }, (_, i) => ({ host: '127.0.0.1', port: base + i }));
  const spawnAll = (): ChildProcess[] =>
    nodes.map(({ port }) =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      ),
    );
  let children = spawnAll();
  const kill = async (): Promise<void> => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
  };
  const stop = async (): Promise<void> => {
    await kill();
    await rm(dir, { recursive: true, force: true });
  };
  const start = async (): Promise<void> => {
    children = spawnAll();
    for (const { port } of nodes) await answering(port);
    for (const { port } of nodes) await clusterOk(port);
  };
  try {
    for (const { port } of nodes) await answering(port);
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    for (const { port } of nodes) await clusterOk(port);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, kill, start, stop };
}

async function answering(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await askRedis(port, (r) => r.ping())) === 'PONG') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

async function clusterOk(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const info = await askRedis(port, (r) => r.cluster('INFO') as Promise<string>);
    if (info?.includes('cluster_state:ok') === true) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the Redis Cluster node on port ${port} never said cluster_state:ok`);
}
