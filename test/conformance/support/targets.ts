/**
 * The endpoints under test, in echo mode: Conduit's server (/echo, as `conduit serve` mounts it) and
 * client (as `conduit connect --echo` runs it), and the same two roles played by the `ws` library for
 * reference.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import {
  type ClientOptions,
  connect,
  type PerMessageDeflateOptions,
  startServer,
  WebSocketServer,
} from '../../../src/index.js';

export interface ServerTarget {
  name: string;
  /** ws://127.0.0.1:<port>/echo */
  url: string;
  /** With permessage-deflate: every message of at least this many bytes is sent compressed. */
  compressThreshold?: number;
  close(): Promise<void>;
}

export interface ClientOutcome {
  /** The close code the client reported, or null when it never opened. */
  code: number | null;
  error: string | null;
}

export interface ClientTarget {
  name: string;
  /** With permessage-deflate: every message of at least this many bytes is sent compressed. */
  compressThreshold?: number;
  /** Connect to `url`, echo every message with its type, resolve once the connection is closed. */
  run(url: string): Promise<ClientOutcome>;
}

/**
 * Conduit's WebSocketServer echoing at /echo; `perMessageDeflate` as its option (default off). With
 * deflate, the threshold is 0 unless given, so that every echo is compressed.
 */
export async function startConduitEchoServer(
  perMessageDeflate: false | PerMessageDeflateOptions = false,
  name = 'conduit',
): Promise<ServerTarget> {
  const deflate = perMessageDeflate === false ? false : { threshold: 0, ...perMessageDeflate };
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/echo', perMessageDeflate: deflate });
  wss.on('connection', (s) => {
    s.on('message', (data, isBinary) => s.send(isBinary ? data : data.toString(), { binary: isBinary }));
  });
  await once(wss, 'listening');
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    name,
    url: `ws://127.0.0.1:${address.port}/echo`,
    ...(deflate === false ? {} : { compressThreshold: deflate.threshold }),
    close: () => wss.close(),
  };
}

/** `conduit serve`'s composition: /echo on the HTTP server that also serves the demo and /broadcast. */
export async function startConduitServe(): Promise<ServerTarget> {
  const running = await startServer({ host: '127.0.0.1', port: 0 });
  return {
    name: 'conduit serve',
    url: `ws://127.0.0.1:${running.port}/echo`,
    close: () => running.close(),
  };
}

/** The ws library's server, for reference; with permessage-deflate at threshold 0 when asked. */
export async function startWsEchoServer(deflate = false): Promise<ServerTarget> {
  const wss = new WsServer({
    port: 0,
    host: '127.0.0.1',
    path: '/echo',
    perMessageDeflate: deflate ? { threshold: 0 } : false,
  });
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  await once(wss, 'listening');
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    name: 'ws',
    url: `ws://127.0.0.1:${address.port}/echo`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
}

export const conduitEchoClient: ClientTarget = conduitClient('conduit');

/**
 * The Conduit client in echo mode, with `options` for connect(). With a perMessageDeflate object the
 * threshold is 0 unless given (every echo compressed).
 */
export function conduitClient(name: string, options: ClientOptions = {}): ClientTarget {
  const pmd = options.perMessageDeflate;
  const opts: ClientOptions =
    typeof pmd === 'object' ? { ...options, perMessageDeflate: { threshold: 0, ...pmd } } : options;
  const threshold = typeof opts.perMessageDeflate === 'object' ? opts.perMessageDeflate.threshold : undefined;
  return {
    name,
    ...(threshold === undefined ? {} : { compressThreshold: threshold }),
    run: (url) => runConduitClient(url, opts),
  };
}

async function runConduitClient(url: string, options: ClientOptions): Promise<ClientOutcome> {
  let c: Awaited<ReturnType<typeof connect>>;
  try {
    c = await connect(url, options);
  } catch (error) {
    return { code: null, error: error instanceof Error ? error.message : String(error) };
  }
  c.on('message', (data, isBinary) => c.send(isBinary ? data : data.toString()));
  // Not events.once: it would listen for 'error', and Conduit emits 'error' only to listeners.
  const code = await new Promise<number>((resolve) => c.once('close', (closeCode) => resolve(closeCode)));
  return { code, error: null };
}

export const wsEchoClient: ClientTarget = {
  name: 'ws',
  compressThreshold: 0,
  async run(url) {
    // ws offers permessage-deflate by default (client_max_window_bits); threshold 0 as our targets.
    const ws = new WsClient(url, { perMessageDeflate: { threshold: 0 } });
    let error: string | null = null;
    ws.on('error', (e) => {
      error = e.message;
    });
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    const code = await new Promise<number>((resolve) => ws.once('close', (closeCode) => resolve(closeCode)));
    return { code, error };
  },
};

const CLI = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));

/** `conduit connect --echo <url>` as a child process; its close code is read from its last line. */
export const cliEchoClient: ClientTarget = cliClient('conduit-cli', []);

/** `conduit connect --echo` with extra arguments (e.g. `--deflate shared`). */
export function cliClient(name: string, args: readonly string[]): ClientTarget {
  return { name, run: (url) => runCli(url, args) };
}

function runCli(url: string, args: readonly string[]): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'connect', '--echo', ...args, url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (status) => {
      clearTimeout(killer);
      const closed = /closed: (\d+)/.exec(out);
      resolve({
        code: closed === null ? null : Number(closed[1]),
        error: closed === null ? `exit status ${status}; ${err.trim() || out.trim()}` : null,
      });
    });
  });
}
