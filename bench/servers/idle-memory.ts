/**
 * Lets the orchestrator measure a storm server's memory over IPC: on { type: 'idle-memory' } the server
 * collects garbage (when it runs with --expose-gc, as every storm server does), waits `settleMs` so
 * that freed pages go back and timers of the handshakes expire, collects again, and reports RSS with
 * the number of connections it holds. The same procedure before any connection and with all of them
 * open gives the per-connection figure.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { cpuSample } from '../protocol.js';
import type { IdleMemoryCommand, ServerIdleMemory } from '../scenarios/ipc.js';

const gc = (globalThis as { gc?: () => void }).gc;

export function answerIdleMemoryRequests(connections: () => number): void {
  process.on('message', (raw: unknown) => {
    if ((raw as { type?: unknown }).type !== 'idle-memory') return;
    const { settleMs } = raw as IdleMemoryCommand;
    gc?.();
    setTimeout(() => {
      gc?.();
      const m = process.memoryUsage();
      const message: ServerIdleMemory = {
        type: 'idle-memory',
        memory: {
          rss: m.rss,
          heapUsed: m.heapUsed,
          external: m.external,
          newSpace:
            getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0,
          connections: connections(),
          gc: gc !== undefined,
          cpu: cpuSample(),
        },
      };
      if (process.connected && process.send !== undefined) process.send(message);
    }, settleMs);
  });
}
