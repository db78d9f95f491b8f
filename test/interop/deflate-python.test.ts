/**
 * Interop: permessage-deflate between Conduit and python-websockets (Debian's python3-websockets,
 * 10.x, run by /usr/bin/python3, not a pyenv python on PATH) with compression="deflate", both ways.
 * The python side lives in fixtures/python_deflate_peer.py. A frame tap between the two reads what
 * crossed the wire: RSV1 on every message python sent (it compresses everything, fragments included,
 * with RSV1 on the first frame only), and on every whole message Conduit sent (under 1024 bytes as
 * stored blocks or deflated, PerMessageDeflateOptions.shortMessages), never on its fragments.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type WebSocketConnection } from '../../src/index.js';
import {
  burstMessages,
  collector,
  compressibleText,
  extensionParams,
  mismatches,
  sizedMessages,
  type TestMessage,
} from '../support/interop/deflate-data.js';
import { dataFrames, type FrameTap, headerIn, listenTap } from '../support/interop/frame-tap.js';
import { closeOfConduit, listenConduit, within } from '../support/interop/peers.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(
  new URL('../../../test/interop/fixtures/python_deflate_peer.py', import.meta.url),
);

function pythonWebsockets(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

const version = pythonWebsockets();
const SKIP = `${PYTHON} cannot import websockets (apt-get install python3-websockets)`;

type Mode = 'shared' | 'dedicated';
const MODES: readonly Mode[] = ['shared', 'dedicated'];
const PMD = 'permessage-deflate';
const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
type Json = Record<string, unknown>;

/** The sizes the python client sends, in order (see the fixture): each size as text then binary,
 * a burst of 50 from 900 bytes up by 37, then a 20000-byte text in 3 fragments and 300000 bytes in 5
 * (each followed by an empty final frame). */
const PY_SIZES = [0, 1, 125, 1023, 1024, 64 * 1024, 1024 * 1024];
const PY_MESSAGE_SIZES = [
  ...PY_SIZES.flatMap((s) => [s, s]),
  ...Array.from({ length: 50 }, (_, i) => 900 + 37 * i),
  20_000,
  300_000,
];
const PY_OPCODES = [
  ...PY_SIZES.flatMap(() => [TEXT, BINARY]),
  ...Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? TEXT : BINARY)),
];

/** Run the python client against `url`; resolves with its JSON report. */
function runPythonClient(url: string, config?: Json): Promise<Json> {
  const args = [SCRIPT, 'client', url, ...(config === undefined ? [] : [JSON.stringify(config)])];
  return within(
    30_000,
    'the python client',
    new Promise<Json>((resolve, reject) => {
      execFile(PYTHON, args, { timeout: 25_000, encoding: 'utf8' }, (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(line) as Json);
        } catch {
          reject(new Error(`python printed no JSON (${error?.message ?? 'exit 0'}): ${stdout}\n${stderr}`));
        }
      });
    }),
  );
}

interface PythonServer {
  port: number;
  stop(): Promise<void>;
}

/** Start the python echo server; it stops when its stdin closes. */
function startPythonServer(config?: Json): Promise<PythonServer> {
  const args = [SCRIPT, 'server', ...(config === undefined ? [] : [JSON.stringify(config)])];
  const child: ChildProcess = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.stdin?.end();
    try {
      await within(5000, 'the python server to exit', exited);
    } catch {
      child.kill('SIGKILL');
      await exited;
    }
  };
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  return within(
    15_000,
    'the python server to listen',
    new Promise<PythonServer>((resolve, reject) => {
      let out = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        out += chunk;
        const newline = out.indexOf('\n');
        if (newline < 0) return;
        const report = JSON.parse(out.slice(0, newline)) as { port?: number; error?: string };
        if (report.port === undefined) reject(new Error(`python server failed: ${report.error}`));
        else resolve({ port: report.port, stop });
      });
      child.once('exit', (code) => reject(new Error(`python server exited (${code}): ${stderr}`)));
    }),
  ).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
}

// ---------------------------------------------------------------------------------------------
// python client -> Conduit server

interface ClientCase {
  name: string;
  /** The python ClientPerMessageDeflateFactory parameters (undefined: the library's defaults). */
  config?: Json;
  /** What Conduit answers, per mode (undefined: no extension, python's offer declined). */
  response: Record<Mode, string | undefined>;
  /** What python agreed to: [remote (server) no context takeover, local (client) one, windows]. */
  agreed: Record<Mode, Json | null>;
}

const BOTH_NCT = `${PMD}; server_no_context_takeover; client_no_context_takeover`;
const agreedOf = (serverNct: boolean, clientNct: boolean, serverBits: number, clientBits: number) => ({
  name: PMD,
  remote_no_context_takeover: serverNct,
  local_no_context_takeover: clientNct,
  remote_max_window_bits: serverBits,
  local_max_window_bits: clientBits,
});

const CLIENT_CASES: ClientCase[] = [
  {
    name: 'the library defaults (client_max_window_bits without a value)',
    response: { shared: BOTH_NCT, dedicated: PMD },
    agreed: { shared: agreedOf(true, true, 15, 15), dedicated: agreedOf(false, false, 15, 15) },
  },
  {
    name: 'every parameter, server window 10, client window 9',
    config: {
      server_no_context_takeover: true,
      client_no_context_takeover: true,
      server_max_window_bits: 10,
      client_max_window_bits: 9,
    },
    response: {
      shared: `${BOTH_NCT}; server_max_window_bits=10; client_max_window_bits=9`,
      dedicated: `${BOTH_NCT}; server_max_window_bits=10; client_max_window_bits=9`,
    },
    agreed: { shared: agreedOf(true, true, 10, 9), dedicated: agreedOf(true, true, 10, 9) },
  },
  {
    name: 'server_max_window_bits=8 (which zlib cannot honour: declined, uncompressed)',
    config: { server_max_window_bits: 8 },
    response: { shared: undefined, dedicated: undefined },
    agreed: { shared: null, dedicated: null },
  },
];

describe('permessage-deflate: python-websockets as a client of a Conduit server', {
  timeout: 120_000,
}, () => {
  for (const c of CLIENT_CASES) {
    for (const mode of MODES) {
      it(`python offering ${c.name}, Conduit in ${mode} mode: agrees, echoes every size and fragmented messages`, async (t) => {
        if (version === null) return t.skip(SKIP);
        const server = await listenConduit({ perMessageDeflate: { mode } });
        const closes: Array<{ code: number; wasClean: boolean }> = [];
        const extensions: string[] = [];
        server.server.on('connection', (conn) => {
          extensions.push(conn.extensions);
          conn.on('close', (code, _reason, wasClean) => closes.push({ code, wasClean }));
        });
        let tap: FrameTap | undefined;
        try {
          tap = await listenTap(server.port);
          const out = await runPythonClient(`${tap.url}/`, c.config);
          assert.equal(out.error, undefined, String(out.error));
          assert.deepEqual(out.failures, []);
          assert.equal((out.checks as string[]).length, PY_MESSAGE_SIZES.length);
          assert.equal(out.pong, true);
          assert.equal(out.close_code, 1000);
          // The handshake, as python saw it, as Conduit's connection reports it, and on the wire.
          const expected = c.response[mode];
          assert.equal(out.response_extensions ?? undefined, expected);
          assert.deepEqual(extensions, [expected ?? '']);
          assert.equal(headerIn(tap.last().responseHead, 'Sec-WebSocket-Extensions'), expected);
          assert.deepEqual(out.agreed, c.agreed[mode] === null ? [] : [c.agreed[mode]]);

          const compressed = expected !== undefined;
          const up = dataFrames(tap.last().toServer).map((f) => [f.opcode, f.fin, f.rsv1]);
          const fragments = (opcode: number, n: number) =>
            Array.from({ length: n }, (_, i) => [
              i === 0 ? opcode : CONTINUATION,
              i === n - 1,
              i === 0 && compressed,
            ]);
          assert.deepEqual(
            up,
            [
              ...PY_OPCODES.map((opcode) => [opcode, true, compressed]),
              // websockets sends one frame per item, then an empty final frame.
              ...fragments(TEXT, 4),
              ...fragments(BINARY, 6),
            ],
            'python: RSV1 on the first frame of every message when compression was agreed',
          );
          assert.deepEqual(
            dataFrames(tap.last().toClient).map((f) => f.rsv1),
            PY_MESSAGE_SIZES.map(() => compressed),
            'Conduit: RSV1 on every message (short ones stored or deflated)',
          );
          await within(
            3000,
            'the server-side close',
            (async () => {
              while (closes.length === 0) await new Promise((r) => setTimeout(r, 10));
            })(),
          );
          assert.deepEqual(closes, [{ code: 1000, wasClean: true }]);
        } finally {
          await tap?.close();
          await server.close();
        }
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Conduit client -> python server

interface ServerCase {
  name: string;
  /** The python ServerPerMessageDeflateFactory parameters (undefined: the library's defaults). */
  config?: Json;
  /** python's answer as a sorted parameter list, per mode ([] for none). */
  response: Record<Mode, string[]>;
}

const params = (...p: string[]) => [PMD, ...p].sort();

const SERVER_CASES: ServerCase[] = [
  {
    name: "the library defaults (both windows 12, python's choice)",
    response: {
      shared: params('client_no_context_takeover', 'server_max_window_bits=12', 'client_max_window_bits=12'),
      dedicated: params('server_max_window_bits=12', 'client_max_window_bits=12'),
    },
  },
  {
    name: 'every parameter, server window 9, client window 10',
    config: {
      server_no_context_takeover: true,
      client_no_context_takeover: true,
      server_max_window_bits: 9,
      client_max_window_bits: 10,
    },
    response: {
      shared: params(
        'server_no_context_takeover',
        'client_no_context_takeover',
        'server_max_window_bits=9',
        'client_max_window_bits=10',
      ),
      dedicated: params(
        'server_no_context_takeover',
        'client_no_context_takeover',
        'server_max_window_bits=9',
        'client_max_window_bits=10',
      ),
    },
  },
  {
    name: 'compression off',
    config: { compression: null },
    response: { shared: [], dedicated: [] },
  },
];

const MESSAGES: readonly TestMessage[] = [...sizedMessages(), ...burstMessages(50)];

describe('permessage-deflate: a Conduit client of a python-websockets server', { timeout: 120_000 }, () => {
  for (const c of SERVER_CASES) {
    for (const mode of MODES) {
      it(`Conduit in ${mode} mode, python answering with ${c.name}: agrees and every size echoes in order`, async (t) => {
        if (version === null) return t.skip(SKIP);
        const python = await startPythonServer(c.config);
        let tap: FrameTap | undefined;
        let conn: WebSocketConnection | undefined;
        try {
          tap = await listenTap(python.port);
          conn = await within(5000, 'connect()', connect(`${tap.url}/`, { perMessageDeflate: { mode } }));
          const answered = headerIn(tap.last().responseHead, 'Sec-WebSocket-Extensions');
          assert.deepEqual(extensionParams(answered), c.response[mode]);
          assert.equal(conn.extensions, answered ?? '');
          const compressed = answered !== undefined;

          const got = collector();
          conn.on('message', (data, isBinary) => got.push({ data, isBinary }));
          // Each size after the previous echo, then the burst without waiting.
          const sized = MESSAGES.slice(0, 14);
          for (const [i, m] of sized.entries()) {
            conn.send(m.data);
            await got.until(i + 1);
          }
          for (const m of MESSAGES.slice(14)) conn.send(m.data);
          // A fragmented text (Conduit sends fragments uncompressed; python echoes it compressed).
          const long = compressibleText(20_000, 77);
          const cut = long.indexOf(' ', 9000);
          conn.send(long.slice(0, cut), { fin: false });
          conn.send(long.slice(cut));
          const all: TestMessage[] = [...MESSAGES, { data: long, size: 20_000, label: 'fragmented text' }];
          await got.until(all.length);
          assert.deepEqual(mismatches(all, got.received), []);

          const up = dataFrames(tap.last().toServer);
          assert.deepEqual(
            up.map((f) => f.rsv1),
            [...MESSAGES.map(() => compressed), false, false],
            'Conduit: RSV1 on every whole message (short ones stored or deflated), never on fragments',
          );
          assert.deepEqual(
            dataFrames(tap.last().toClient).map((f) => [f.fin, f.rsv1]),
            all.map(() => [true, compressed]),
            'python compresses every message',
          );
          const closed = closeOfConduit(conn);
          conn.close(1000, 'done');
          const { code, wasClean } = await closed;
          assert.deepEqual({ code, wasClean }, { code: 1000, wasClean: true });
        } finally {
          conn?.terminate();
          await tap?.close();
          await python.stop();
        }
      });
    }
  }
});
