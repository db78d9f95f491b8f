/**
 * Child processes of the compressed-traffic scenarios: fork a server under test and wait until it
 * listens, ask it something over IPC and wait for the answer, stop it, and make sure no child outlives
 * the orchestrator (killed on exit and on SIGINT/SIGTERM, as run.ts does for its own children).
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { ServerMessage } from '../protocol.js';

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, killAll);

/** Fork `file` (relative to bench/) with an IPC channel, tracked so it is killed with us. */
export function forkChild(
  file: string,
  args: readonly string[],
  execArgv: readonly string[] = [],
): ChildProcess {
  const child = fork(new URL(`../${file}`, import.meta.url), [...args], {
    execArgv: [...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('error', (error) => console.error(`child process ${child.pid}: ${error.message}`));
  child.once('exit', () => children.delete(child));
  return child;
}

export function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** A promise settled by `setup`, or rejected after `ms`. */
export function waitFor<T>(
  what: string,
  ms: number,
  setup: (resolve: (v: T) => void, reject: (e: Error) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    setup(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

export interface StartedServer {
  child: ChildProcess;
  port: number;
  info: string;
}

/** Fork a server (servers/*.js; argv[2] is its lifetime in ms) and wait for its 'ready' message. */
export async function startServer(
  file: string,
  lifetimeMs: number,
  args: readonly string[] = [],
  execArgv: readonly string[] = [],
): Promise<StartedServer> {
  const child = forkChild(file, [String(lifetimeMs), ...args], execArgv);
  try {
    const ready = await waitFor<{ port: number; info: string }>('the server to listen', 10_000, (ok, ko) => {
      child.on('message', (raw: unknown) => {
        const message = raw as ServerMessage;
        if (message.type === 'ready') ok({ port: message.port, info: message.info });
      });
      child.once('exit', (code) => ko(new Error(`the server exited early (code ${code})`)));
    });
    return { child, ...ready };
  } catch (error) {
    kill(child);
    throw error;
  }
}

/** Send `command` to a child and resolve with its next message of type `reply`. */
export function ask<T extends { type: string }>(
  child: ChildProcess,
  command: { type: string; [key: string]: unknown },
  reply: T['type'],
  timeoutMs = 5000,
): Promise<T> {
  let onMessage: ((raw: unknown) => void) | null = null;
  return waitFor<T>(`a '${reply}' answer`, timeoutMs, (ok, ko) => {
    if (!child.connected) {
      ko(new Error('the child process is gone'));
      return;
    }
    onMessage = (raw: unknown): void => {
      if ((raw as { type?: unknown }).type === reply) ok(raw as T);
    };
    child.on('message', onMessage);
    child.send(command);
  }).finally(() => {
    if (onMessage !== null) child.off('message', onMessage);
  });
}

/** Ask a server to stop (so --cpu-prof can write its profile), then kill it if it does not. */
export async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  if (server.connected) server.send({ type: 'stop' });
  else server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
