import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, WebSocketServer } from '../../src/index.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const children: ChildProcess[] = [];

after(() => {
  for (const child of children) child.kill('SIGKILL');
});

function run(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const exited = once(child, 'exit').then(([code]) => {
    clearTimeout(timer);
    return code as number | null;
  });
  return { child, output: () => output, exited };
}

async function waitFor(output: () => string, pattern: RegExp): Promise<RegExpMatchArray> {
  for (let i = 0; i < 500; i++) {
    const m = output().match(pattern);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${pattern}; output so far:\n${output()}`);
}

describe('conduit CLI', () => {
  it('serve answers /echo with each message and its type, and closes clients with 1001 on SIGTERM', async () => {
    const serve = run(['serve', '--port', '0']);
    const [, port] = await waitFor(serve.output, /serving http:\/\/127\.0\.0\.1:(\d+)\//);
    const client = await connect(`ws://127.0.0.1:${port}/echo`, { protocols: ['first', 'second'] });
    assert.equal(client.protocol, 'first');
    client.send('text ✓');
    client.send(Buffer.from([0, 1, 2]));
    const got: Array<[string, boolean]> = [];
    client.on('message', (data, isBinary) =>
      got.push([isBinary ? data.toString('hex') : data.toString(), isBinary]),
    );
    while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, [
      ['text ✓', false],
      ['000102', true],
    ]);
    const closed = once(client, 'close');
    serve.child.kill('SIGTERM');
    const [code] = await closed;
    assert.equal(code, 1001);
    assert.equal(await serve.exited, 0);
  });

  it('serve counts clients behind --trust-proxy by X-Forwarded-For, with --new-sessions-per-second', async () => {
    const serve = run([
      'serve',
      '--port',
      '0',
      '--trust-proxy',
      '127.0.0.1',
      '--new-sessions-per-second',
      '2',
    ]);
    const [, port] = await waitFor(serve.output, /serving http:\/\/127\.0\.0\.1:(\d+)\//);
    const poll = async (n: number, client: string) => {
      const res = await fetch(
        `http://127.0.0.1:${port}/hub/poll?t=transport${client.replaceAll('.', '')}x${n}`,
        {
          headers: { 'x-forwarded-for': client },
        },
      );
      await res.text();
      return res.status;
    };
    const started = performance.now();
    const first = await Promise.all(Array.from({ length: 30 }, (_, i) => poll(i, '198.51.100.7')));
    const seconds = (performance.now() - started) / 1000;
    // A burst of 5 x 2 = 10 new sessions for that client, then 2 a second; the rest 429.
    const ok = first.filter((status) => status === 200).length;
    assert.ok(ok >= 10 && ok <= 10 + Math.ceil(2 * seconds), `${ok} accepted in ${seconds.toFixed(2)} s`);
    assert.equal(first.filter((status) => status === 429).length, 30 - ok);
    // Another client behind the same proxy is not concerned.
    assert.equal(await poll(0, '198.51.100.8'), 200);
    serve.child.kill('SIGTERM');
    await serve.exited;
  });

  it('serve --config takes a YAML file, under CONDUIT_ variables and flags; config init and check', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conduit-cli-config-'));
    const file = join(dir, 'conduit.yaml');
    const init = run(['config', 'init', file]);
    assert.equal(await init.exited, 0, init.output());
    assert.equal((await readFile(file, 'utf8')).includes('trustedProxies'), true);
    const again = run(['config', 'init', file]);
    assert.equal(await again.exited, 1, 'an existing file is not overwritten');
    const check = run(['config', 'check', file]);
    assert.equal(await check.exited, 0, check.output());
    // The file says port 8080 and no demo; a flag moves the port; the file's settings stand.
    await writeFile(file, `${await readFile(file, 'utf8')}\n`.replace('demo: true', 'demo: false'));
    const serve = run(['serve', '--config', file, '--port', '0']);
    const [, port] = await waitFor(serve.output, /serving http:\/\/127\.0\.0\.1:(\d+)\//);
    assert.equal(
      (await fetch(`http://127.0.0.1:${port}/demo/token?name=x`)).status,
      404,
      'demo off, from the file',
    );
    serve.child.kill('SIGTERM');
    await serve.exited;
    // A bad key: the file, the key, what was expected; exit 1 without serving.
    await writeFile(file, 'port: 80800\nadmission:\n  newSessionsPerSecnd: 3\n');
    const bad = run(['config', 'check', file]);
    assert.equal(await bad.exited, 1);
    assert.match(bad.output(), new RegExp(`${file.replaceAll('.', '\\.')}: port: .*<=65535`));
    assert.match(bad.output(), /admission\.newSessionsPerSecnd: unknown key/);
    const refused = run(['serve', '--config', file]);
    assert.equal(await refused.exited, 1);
    assert.match(refused.output(), /invalid configuration/);
  });

  it('serve takes the hub access rules from the config: origins from the file, the token secret from CONDUIT_', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conduit-cli-access-'));
    const file = join(dir, 'conduit.json');
    await writeFile(file, JSON.stringify({ port: 0, access: { origins: ['https://app.example.com'] } }));
    const secret = 'x'.repeat(40);
    const serve = run(['serve', '--config', file], { ...process.env, CONDUIT_ACCESS_TOKEN_SECRET: secret });
    const [, port] = await waitFor(serve.output, /serving http:\/\/127\.0\.0\.1:(\d+)\//);
    const base = `http://127.0.0.1:${port}`;
    const foreign = await fetch(`${base}/hub/sse`, { headers: { origin: 'https://evil.example' } });
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();
    const anonymous = await fetch(`${base}/hub/sse`, { headers: { origin: 'https://app.example.com' } });
    assert.equal(anonymous.status, 401, 'a token is required with a secret');
    await anonymous.body?.cancel();
    assert.doesNotMatch(serve.output(), new RegExp(secret), 'the secret is not logged');
    serve.child.kill('SIGTERM');
    await serve.exited;
  });

  it('serve forwards /broadcast text to every client, the sender included', async () => {
    const serve = run(['serve', '--port', '0']);
    const [, port] = await waitFor(serve.output, /serving http:\/\/127\.0\.0\.1:(\d+)\//);
    const a = await connect(`ws://127.0.0.1:${port}/broadcast`);
    const b = await connect(`ws://127.0.0.1:${port}/broadcast`);
    await new Promise((r) => setTimeout(r, 50));
    const atA = once(a, 'message');
    const atB = once(b, 'message');
    a.send('to everyone');
    assert.equal(String((await atA)[0]), 'to everyone');
    assert.equal(String((await atB)[0]), 'to everyone');
    a.close();
    b.close();
    serve.child.kill('SIGTERM');
    await serve.exited;
  });

  it('connect sends typed lines and prints echoes and frames with --show-frames', async () => {
    const serve = run(['serve', '--port', '0']);
    const [, port] = await waitFor(serve.output, /serving http:\/\/127\.0\.0\.1:(\d+)\//);
    const client = run(['connect', `ws://127.0.0.1:${port}/echo`, '--show-frames', '--subprotocol', 'demo']);
    await waitFor(client.output, /connected \(subprotocol: demo\)/);
    client.child.stdin?.write('first line\n');
    await waitFor(client.output, /< first line/);
    client.child.stdin?.end();
    assert.equal(await client.exited, 0);
    const out = client.output();
    // permessage-deflate agreed (shared mode): the 10-byte line goes flagged compressed (RSV1) as a
    // stored block, 6 bytes more, both ways (PerMessageDeflateOptions.shortMessages).
    assert.match(out, />> text\s+fin=1 rsv=100 mask=1 len=16/);
    assert.match(out, /<< text\s+fin=1 rsv=100 mask=0 len=16/);
    assert.match(out, /closed: 1000/);
    serve.child.kill('SIGTERM');
    await serve.exited;
  });

  it('connect --echo echoes messages with their type and exits 0 with the close code on a clean close', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const port = (wss.address() as { port: number }).port;
    const echoed: Array<[string, boolean]> = [];
    wss.on('connection', (ws, req) => {
      assert.equal(req.headers['x-token'], 'abc');
      ws.on('message', (data, isBinary) => {
        echoed.push([isBinary ? data.toString('hex') : data.toString(), isBinary]);
        if (echoed.length === 3) ws.close(4000, 'done');
      });
      ws.send('hello');
      ws.send(Buffer.from([0xff, 0x00]));
      ws.send('frag', { fin: false });
      ws.send('mented');
    });
    const client = run(['connect', `ws://127.0.0.1:${port}/`, '--echo', '--header', 'X-Token: abc']);
    assert.equal(await client.exited, 0);
    assert.deepEqual(echoed, [
      ['hello', false],
      ['ff00', true],
      ['fragmented', false],
    ]);
    assert.match(client.output(), /closed: 4000 done/);
    await wss.close();
  });

  it('connect exits non-zero with a clear message when the handshake is refused', async () => {
    const serve = run(['serve', '--port', '0']);
    const [, port] = await waitFor(serve.output, /serving http:\/\/127\.0\.0\.1:(\d+)\//);
    const client = run(['connect', `ws://127.0.0.1:${port}/nowhere`]);
    assert.equal(await client.exited, 1);
    assert.match(client.output(), /unexpected server response: 404/);
    serve.child.kill('SIGTERM');
    await serve.exited;
  });
});
