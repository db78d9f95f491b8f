/**
 * The endpoints under test, in echo mode: Conduit's server (/echo, as `conduit serve` mounts it) and
 * client (as `conduit connect --echo` runs it), and the same two roles played by the `ws` library for
 * reference.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { connect, startServer, WebSocketServer } from '../../../src/index.js';

export interface ServerTarget {
  name: string;
  /** ws://127.0.0.1:<port>/echo */
  url: string;
  close(): Promise<void>;
}

export interface ClientOutcome {
  /** The close code the client reported, or null when it never opened. */
  code: number | null;
  error: string | null;
}

export interface ClientTarget {
  name: string;
  /** Connect to `url`, echo every message with its type, resolve once the connection is closed. */
  run(url: string): Promise<ClientOutcome>;
}

export async function startConduitEchoServer(): Promise<ServerTarget> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/echo' });
  wss.on('connection', (s) => {
    s.on('message', (data, isBinary) => s.send(isBinary ? data : data.toString(), { binary: isBinary }));
  });
  await once(wss, 'listening');
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    name: 'conduit',
    url: `ws://127.0.0.1:${address.port}/echo`,
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

export async function startWsEchoServer(): Promise<ServerTarget> {
  const wss = new WsServer({ port: 0, host: '127.0.0.1', path: '/echo' });
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

export const conduitEchoClient: ClientTarget = {
  name: 'conduit',
  async run(url) {
    let c: Awaited<ReturnType<typeof connect>>;
    try {
      c = await connect(url);
    } catch (error) {
      return { code: null, error: error instanceof Error ? error.message : String(error) };
    }
    c.on('message', (data, isBinary) => c.send(isBinary ? data : data.toString()));
    // Not events.once: it would listen for 'error', and Conduit emits 'error' only to listeners.
    const code = await new Promise<number>((resolve) => c.once('close', (closeCode) => resolve(closeCode)));
    return { code, error: null };
  },
};

export const wsEchoClient: ClientTarget = {
  name: 'ws',
  async run(url) {
    const ws = new WsClient(url);
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
export const cliEchoClient: ClientTarget = {
  name: 'conduit-cli',
  run(url) {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, 'connect', '--echo', url], {
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
  },
};
