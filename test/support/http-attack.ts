/**
 * For the HTTP attacks of test/attacks/: `conduit serve` as users run it (the CLI in a child process,
 * default flags, so the server's event loop is its own and the bounds are the shipped defaults), raw
 * socket exchanges that record what the server answered and when it closed, the server's resident
 * memory, and the legitimate client that must be served within a second while an attack runs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** Everything the process wrote to stderr (its JSON log lines) so far. */
  log(): string;
  /** Its JSON log lines so far, parsed. */
  logLines(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * `conduit serve --port 0 --no-demo` (plus `args`) in a child process, once it prints its URL. With
 * `openFiles`, started under `prlimit --nofile=N:N` (Linux, util-linux).
 */
export async function startServe(args: string[] = [], openFiles?: number): Promise<ServeProcess> {
  const command = [process.execPath, CLI, 'serve', '--port', '0', '--no-demo', ...args];
  const child =
    openFiles === undefined
      ? spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('prlimit', [`--nofile=${openFiles}:${openFiles}`, ...command], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`conduit serve did not start: ${stderr}`)), 10_000);
    const check = () => {
      const match = /conduit serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout?.off('data', check);
      resolve(match[1]!);
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`conduit serve exited with ${code}: ${stderr}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    port: Number(new URL(url).port),
    url,
    log: () => stderr,
    logLines: () =>
      stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

/** The resident memory of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  assert.ok(match !== null, 'VmRSS in /proc/PID/status');
  return Number(match[1]) * 1024;
}

export interface Exchange {
  /** What the server sent, as latin1 text. */
  readonly response: string;
  /** Whether the server closed the connection within the time allowed. */
  readonly closed: boolean;
  /** Milliseconds from the connection to its close (or to the end of the wait). */
  readonly elapsed: number;
  /** Milliseconds from the connection to the first byte of the answer, or null. */
  readonly answeredAfter: number | null;
}

/**
 * Connect, let `send` write (it may take its time; a write after the server closed is ignored), and
 * record the answer until the server closes the connection or `ms` pass.
 */
export async function exchange(
  port: number,
  send: (socket: Socket) => Promise<void> | void,
  ms: number,
): Promise<Exchange> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const started = performance.now();
  let response = '';
  let answeredAfter: number | null = null;
  socket.on('data', (chunk: Buffer) => {
    answeredAfter ??= performance.now() - started;
    response += chunk.toString('latin1');
  });
  let timer: NodeJS.Timeout | undefined;
  // Not events.once: an 'error' (EPIPE, ECONNRESET from a write after the close) would reject it.
  const closing = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
  // The sender may still be writing when the server closes: the close is what counts.
  void Promise.resolve(send(socket)).catch(() => undefined);
  const closed = await Promise.race([
    closing,
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  const elapsed = performance.now() - started;
  socket.destroy();
  return { response, closed, elapsed, answeredAfter };
}

/** Write `bytes` one at a time every `everyMs`, until done or the socket closes. */
export async function dribble(socket: Socket, bytes: string, everyMs: number): Promise<void> {
  for (let i = 0; i < bytes.length && !socket.destroyed; i++) {
    socket.write(bytes[i]!, 'latin1');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The status code of the first response in `text`, or 0. */
export function statusOf(text: string): number {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  return match === null ? 0 : Number(match[1]);
}

/** How many responses `text` holds (status lines at the start of a response). */
export function responsesIn(text: string): number {
  return (text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
}

/** A hub session id, from a WebSocket client that stays connected (terminate it when done). */
export async function hubSession(url: string): Promise<{ session: string; ws: WebSocket }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, 'conduit.v1');
  ws.on('error', () => undefined);
  const session = await new Promise<string>((resolve, reject) => {
    ws.on('message', (data) => {
      // The session's key: what POSTs to it name (the id is public).
      const message = JSON.parse(String(data)) as { type: string; key?: string };
      if (message.type === 'connected' && message.key !== undefined) resolve(message.key);
    });
    ws.once('close', (code) => reject(new Error(`hub closed with ${code}`)));
  });
  return { session, ws };
}

/** Milliseconds for a new WebSocket client of /echo to open and get its message back. */
export async function echoMs(url: string): Promise<number> {
  const started = performance.now();
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/echo`);
  ws.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo within 5 s')), 5000);
      ws.once('open', () => ws.send('still there?'));
      ws.once('message', (data) => {
        clearTimeout(timer);
        if (String(data) === 'still there?') resolve();
        else reject(new Error(`bad echo: ${String(data)}`));
      });
      ws.once('close', (code) => reject(new Error(`closed with ${code} before the echo`)));
    });
    return performance.now() - started;
  } finally {
    ws.terminate();
  }
}

/** Milliseconds for GET /healthz to answer 200 on a new connection. */
export async function healthMs(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/healthz`, {
    headers: { connection: 'close' },
    signal: AbortSignal.timeout(5000),
  });
  await response.text();
  assert.equal(response.status, 200);
  return performance.now() - started;
}

/** A new client gets its /echo echo and a 200 from /healthz, each within a second. */
export async function assertServedWithinASecond(url: string, during: string): Promise<void> {
  const echo = await echoMs(url);
  assert.ok(echo < 1000, `the /echo round trip took ${echo.toFixed(0)} ms during ${during}`);
  const health = await healthMs(url);
  assert.ok(health < 1000, `GET /healthz took ${health.toFixed(0)} ms during ${during}`);
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
