/** IPC helpers of the scale scenarios' load generators (each a process forked by the orchestrator). */
import type { LoadFailure } from '../protocol.js';

/** Send a message to the orchestrator; resolves once it is written (or at once without a channel). */
export function report<M extends { type: string }>(message: M): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || process.send === undefined) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Report a failure and exit. */
export async function fail(error: unknown): Promise<never> {
  const message = error instanceof Error ? error.message : String(error);
  await report<LoadFailure>({ type: 'failure', message });
  process.exit(1);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when the orchestrator sends a message of this type. */
export function command(type: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (raw: unknown): void => {
      if ((raw as { type?: unknown }).type !== type) return;
      process.off('message', listener);
      resolve();
    };
    process.on('message', listener);
  });
}

/**
 * Never outlive the orchestrator: exit when the IPC channel goes away, and fail after `ms` whatever
 * happens.
 */
export function bound(ms: number): void {
  process.on('disconnect', () => process.exit(1));
  setTimeout(() => void fail(new Error(`load generator exceeded its time limit of ${ms} ms`)), ms).unref();
}
