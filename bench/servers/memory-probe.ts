/**
 * Lets the orchestrator sample a server's memory over IPC (the soak): answers { type: 'memory' } with
 * process.memoryUsage(), the number of open connections and the CPU used so far. With `gc`, when the
 * process runs with --expose-gc, it collects garbage, waits for finalizers and collects again first, so
 * a last sample after the load shows what is still referenced rather than what the collector has not
 * got round to.
 */
import type { MemoryCommand, ServerMemory } from '../deflate-protocol.js';
import { cpuSample } from '../protocol.js';

const gc = (globalThis as { gc?: () => void }).gc;

/** zlib's native memory is released by finalizers that run a little after the collection. */
const FINALIZE_MS = 1000;

function reply(connections: number): void {
  const m = process.memoryUsage();
  const message: ServerMemory = {
    type: 'memory',
    sample: {
      rss: m.rss,
      heapTotal: m.heapTotal,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      connections,
      cpu: cpuSample(),
    },
  };
  if (process.connected && process.send !== undefined) process.send(message);
}

export function answerMemoryRequests(connections: () => number): void {
  process.on('message', (raw: unknown) => {
    if ((raw as { type?: unknown }).type !== 'memory') return;
    if (!(raw as MemoryCommand).gc || gc === undefined) {
      reply(connections());
      return;
    }
    gc();
    setTimeout(() => {
      gc();
      reply(connections());
    }, FINALIZE_MS);
  });
}
