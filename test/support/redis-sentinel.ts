/**
 * A Redis Sentinel of a test's own (Debian's redis-server in sentinel mode) watching one master as
 * 'mymaster', with a short down-after (500 ms) so that a failover happens within seconds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { consecutiveFreePorts } from './ports.js';

export interface TestSentinel {
  readonly port: number;
  /** The master's port as the sentinel sees it now. */
  masterPort(): Promise<number | null>;
  stop(): Promise<void>;
}

export async function startTestSentinel(masterPort: number, name = 'mymaster'): Promise<TestSentinel> {
  const port = await consecutiveFreePorts(1);
  const dir = await mkdtemp(join(tmpdir(), 'conduit-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 500`,
      `sentinel failover-timeout ${name} 5000`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const admin = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  admin.on('error', () => undefined);
  const masterOf = async (): Promise<number | null> => {
    try {
      if (admin.status !== 'ready') await admin.connect();
      const answer = (await admin.call('SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
      return answer === null ? null : Number(answer[1]);
    } catch {
      if (admin.status !== 'ready') admin.disconnect();
      return null;
    }
  };
  for (let i = 0; i < 100 && (await masterOf()) === null; i++) await new Promise((r) => setTimeout(r, 50));
  return {
    port,
    masterPort: masterOf,
    async stop() {
      admin.disconnect();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
