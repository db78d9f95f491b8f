/**
 * Interop: the `conduit serve` command as users run it (a child process), with ws clients on /echo and
 * /broadcast, and its shutdown on SIGTERM (clients get 1001, the process exits 0).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type WebSocket from 'ws';
import { closeOfWs, nextWsMessage, openWs, patternBytes, within } from '../support/interop/peers.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('conduit serve as a child process with ws clients', { timeout: 20_000 }, () => {
  let child: ChildProcess;
  let base = '';
  let output = '';
  const clients: WebSocket[] = [];

  before(async () => {
    child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      output += chunk;
    });
    base = await within(
      10_000,
      'conduit serve to print its URL',
      new Promise<string>((resolve, reject) => {
        child.stdout?.on('data', (chunk: string) => {
          output += chunk;
          const match = /conduit serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(output);
          if (match !== null) resolve(match[1]!.replace(/^http/, 'ws'));
        });
        child.once('exit', (code) => reject(new Error(`conduit serve exited with ${code}: ${output}`)));
      }),
    );
  });

  after(async () => {
    for (const ws of clients) ws.terminate();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });

  it('echoes text and binary on /echo, selecting the first offered subprotocol', async () => {
    const ws = await openWs(`${base}/echo`, ['chat', 'json']);
    clients.push(ws);
    assert.equal(ws.protocol, 'chat');
    const text = nextWsMessage(ws);
    ws.send('h\u00e9llo');
    assert.deepEqual(await text, { data: Buffer.from('h\u00e9llo'), isBinary: false });
    const binary = nextWsMessage(ws);
    ws.send(patternBytes(200_000, 61));
    const got = await binary;
    assert.equal(got.isBinary, true);
    assert.ok(got.data.equals(patternBytes(200_000, 61)));
  });

  it('forwards text on /broadcast to every client, the sender included', async () => {
    const a = await openWs(`${base}/broadcast`);
    const b = await openWs(`${base}/broadcast`);
    clients.push(a, b);
    const atA = nextWsMessage(a);
    const atB = nextWsMessage(b);
    a.send('to everyone');
    assert.equal((await atA).data.toString(), 'to everyone');
    assert.equal((await atB).data.toString(), 'to everyone');
  });

  it('closes every client with 1001 and exits 0 on SIGTERM', async () => {
    const ws = await openWs(`${base}/echo`);
    clients.push(ws);
    const closed = closeOfWs(ws);
    const exited = within(10_000, 'conduit serve to exit', once(child, 'exit'));
    child.kill('SIGTERM');
    assert.equal((await closed).code, 1001);
    const [code] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.equal(code, 0, output);
  });
});
