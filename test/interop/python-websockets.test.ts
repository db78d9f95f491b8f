/**
 * Interop: python-websockets (Debian's python3-websockets, run by /usr/bin/python3, not a pyenv
 * python on PATH) as a client of `conduit serve`'s /echo. The script lives in fixtures/ and prints JSON.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { WebSocketConnection } from '../../src/index.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { within } from '../support/interop/peers.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(
  new URL('../../../test/interop/fixtures/python_websockets_client.py', import.meta.url),
);

function pythonWebsockets(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

type Json = Record<string, unknown>;

/** Run the fixture; resolve with its JSON output (also when it exits non-zero: the JSON says why). */
function runClient(mode: 'echo' | 'server-close', url: string): Promise<Json> {
  return within(
    30_000,
    `the python client (${mode})`,
    new Promise<Json>((resolve, reject) => {
      execFile(
        PYTHON,
        [SCRIPT, mode, url],
        { timeout: 25_000, encoding: 'utf8' },
        (error, stdout, stderr) => {
          const line = stdout.trim().split('\n').pop() ?? '';
          try {
            resolve(JSON.parse(line) as Json);
          } catch {
            reject(new Error(`python printed no JSON (${error?.message ?? 'exit 0'}): ${stdout}\n${stderr}`));
          }
        },
      );
    }),
  );
}

const version = pythonWebsockets();

describe('python-websockets as a client of conduit serve', { timeout: 60_000 }, () => {
  let running: RunningServer;
  const serverCloses: Array<{ code: number; reason: string; wasClean: boolean; protocol: string }> = [];
  before(async () => {
    if (version === null) return;
    running = await startServer({ port: 0 });
    running.echo.on('connection', (conn: WebSocketConnection, req) => {
      conn.on('close', (code, reason, wasClean) =>
        serverCloses.push({ code, reason, wasClean, protocol: conn.protocol }),
      );
      if (req.url?.includes('close=server') === true) conn.close(4002, 'bye from conduit');
    });
  });
  after(async () => {
    if (version !== null) await running.close();
  });

  it('echoes text, binary, 1 MiB and fragmented messages, answers a ping and closes with 1000', async (t) => {
    if (version === null)
      return t.skip(`${PYTHON} cannot import websockets (apt-get install python3-websockets)`);
    const url = running.url.replace(/^http/, 'ws');
    const out = await runClient('echo', `${url}/echo`);
    assert.equal(out.error, undefined, String(out.error));
    assert.equal(out.subprotocol, 'chat');
    assert.deepEqual(out.checks, {
      text: { same: true, type: 'str', length: 19 }, // code points
      binary: { same: true, type: 'bytes', length: 256 },
      empty_text: { same: true, type: 'str', length: 0 },
      binary_1mib: { same: true, type: 'bytes', length: 1024 * 1024 },
      text_1mib: { same: true, type: 'str', length: 512 * 1024 },
      fragmented: { same: true, type: 'str', length: 12 },
    });
    assert.equal(out.pong, true);
    // Conduit echoes the close code (section 5.5.1) and the reason.
    assert.equal(out.close_code, 1000);
    await within(
      2000,
      'the server-side close',
      waitFor(() => serverCloses.length > 0),
    );
    assert.deepEqual(serverCloses.shift(), {
      code: 1000,
      reason: 'python done',
      wasClean: true,
      protocol: 'chat',
    });
  });

  it('sees a server-initiated close with its code and reason as a clean close', async (t) => {
    if (version === null)
      return t.skip(`${PYTHON} cannot import websockets (apt-get install python3-websockets)`);
    const url = running.url.replace(/^http/, 'ws');
    const out = await runClient('server-close', `${url}/echo?close=server`);
    // websockets raises ConnectionClosedError for codes other than 1000/1001; what matters is that both
    // close frames crossed, the server's first, with the code and reason intact.
    assert.equal(out.error, undefined, String(out.error));
    assert.equal(out.unexpected_message, undefined);
    assert.equal(out.close_code, 4002);
    assert.equal(out.close_reason, 'bye from conduit');
    assert.deepEqual(out.received, [4002, 'bye from conduit']);
    assert.equal((out.sent as unknown[] | null)?.[0], 4002, 'python echoes the code');
    assert.equal(out.received_then_sent, true);
    await within(
      2000,
      'the server-side close',
      waitFor(() => serverCloses.length > 0),
    );
    const closed = serverCloses.shift();
    assert.equal(closed?.code, 4002);
    assert.equal(closed?.wasClean, true);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 10));
}
