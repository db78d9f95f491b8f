/**
 * The scale scenarios' handling of child processes: fork a server or a load generator, read the
 * messages it sends one request at a time (Mailbox), stop it, and never leave one behind: every child
 * is killed when the orchestrator exits, however it exits. (Kept apart from run.ts, which has the same
 * logic for the echo scenarios, so that the two sets of scenarios can change independently.)
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { ServerCommand } from '../protocol.js';

const children = new Set<ChildProcess>();

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Fork a bench script (a path relative to the bench/ directory of the build), tracked. */
export function forkChild(script: string, args: string[], execArgv: string[] = []): ChildProcess {
  const child = fork(new URL(`../${script}`, import.meta.url), args, {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('error', (error) => console.error(`child process ${child.pid}: ${error.message}`));
  child.once('exit', () => children.delete(child));
  return child;
}

interface Waiter {
  type: string;
  resolve: (message: { type: string }) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The messages of one child, taken in order by type: `next('ready', ms)` resolves with the first
 * 'ready' message not taken yet, and rejects on timeout, on a { type: 'failure' } message, or when the
 * child exits.
 */
export class Mailbox<M extends { type: string }> {
  private readonly queue: M[] = [];
  private readonly waiters = new Set<Waiter>();
  private ended: Error | null = null;

  constructor(
    private readonly child: ChildProcess,
    private readonly name: string,
  ) {
    child.on('message', (raw: unknown) => {
      const message = raw as M | { type: 'failure'; message: string };
      if (message.type === 'failure') {
        this.end(new Error(`${name}: ${(message as { message: string }).message}`));
        return;
      }
      for (const waiter of this.waiters) {
        if (waiter.type === message.type) {
          this.settle(waiter);
          waiter.resolve(message);
          return;
        }
      }
      this.queue.push(message as M);
    });
    child.once('exit', (code, signal) => this.end(new Error(`${name} exited (${signal ?? `code ${code}`})`)));
  }

  next<T extends M['type']>(type: T, timeoutMs: number): Promise<Extract<M, { type: T }>> {
    const at = this.queue.findIndex((m) => m.type === type);
    if (at !== -1) return Promise.resolve(this.queue.splice(at, 1)[0] as Extract<M, { type: T }>);
    if (this.ended !== null) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        type,
        resolve: resolve as (message: { type: string }) => void,
        reject,
        timer: setTimeout(() => {
          this.settle(waiter);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${this.name} (${type})`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Send a command to the child, if it is still there. */
  send<C extends { type: string }>(message: C): void {
    if (this.child.connected) this.child.send(message);
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
  }

  private end(error: Error): void {
    if (this.ended === null) this.ended = error;
    for (const waiter of this.waiters) {
      this.settle(waiter);
      waiter.reject(error);
    }
  }
}

/** Ask a server to stop (so --cpu-prof can write its profile), then kill it if it does not. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send({ type: 'stop' } satisfies ServerCommand);
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
