/**
 * Lets the orchestrator measure a storm server's memory over IPC: on { type: 'idle-memory' } the server
 * collects garbage (when it runs with --expose-gc, as every storm server does), rests so that
 * timers of the handshakes expire and V8 shrinks the young generation the storm grew, collects again,
 * and reports RSS with the number of connections it holds `settleMs` after the request. The same procedure before any connection and with all of them
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
    // gc, rest, gc again, and read RELEASE_MS later: the pages a collection gives back (the young
    // generation V8 shrinks once the process is idle) leave RSS a moment after it, not during it.
    const release = Math.min(RELEASE_MS, settleMs / 2);
    gc?.();
    setTimeout(() => {
      gc?.();
      setTimeout(() => report(connections), release);
    }, settleMs - release);
  });
}

/** How long after the last collection the memory is read (at most half of `settleMs`). */
const RELEASE_MS = 3000;

function report(connections: () => number): void {
  const m = process.memoryUsage();
  const message: ServerIdleMemory = {
    type: 'idle-memory',
    memory: {
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      newSpace: getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0,
      connections: connections(),
      gc: gc !== undefined,
      cpu: cpuSample(),
    },
  };
  if (process.connected && process.send !== undefined) process.send(message);
}
