/** `conduit cluster`: N nodes on consecutive ports sharing Redis, stopped together. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { HubMessage } from '../../src/client/index.js';
import { connectHub } from '../../src/client/node.js';
import { consecutiveFreePorts } from '../support/ports.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `conduit-test-cluster:${process.pid}:`;

after(async () => {
  const admin = new Redis(REDIS);
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

describe('conduit cluster', () => {
  it('starts three nodes on consecutive ports that share channels, tells clients their node, and stops them all', async () => {
    const base = await consecutiveFreePorts(3);
    const child = spawn(
      process.execPath,
      [CLI, 'cluster', '--nodes', '3', '--port', String(base), '--redis', REDIS, '--redis-prefix', PREFIX],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    try {
      for (let i = 0; i < 500 && (output.match(/conduit serving/g) ?? []).length < 3; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let i = 1; i <= 3; i++) {
        assert.match(
          output,
          new RegExp(`\\[node ${i}\\] conduit serving http://127\\.0\\.0\\.1:${base + i - 1}/`),
        );
      }
      const reader = connectHub(`http://127.0.0.1:${base + 2}`);
      const writer = connectHub(`http://127.0.0.1:${base}`);
      const node = new Promise<string | undefined>((resolve) =>
        reader.on('connected', (info) => resolve(info.node)),
      );
      const got: HubMessage[] = [];
      const sub = reader.subscribe('cluster.news', (m) => got.push(m));
      await new Promise((resolve) => sub.on('subscribed', resolve));
      assert.equal(await node, `127.0.0.1:${base + 2}`);
      await writer.publish('cluster.news', 'from node 1');
      for (let i = 0; i < 200 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(
        got.map((m) => m.data),
        ['from node 1'],
      );
      reader.close();
      writer.close();
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
      assert.equal((output.match(/exited/g) ?? []).length, 3);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
