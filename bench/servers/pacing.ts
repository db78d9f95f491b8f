/**
 * The broadcast loop every broadcast server runs, identical for the three of them so that only the
 * broadcast itself differs: once `clients` connections are open, make `perBatch` broadcasts in a row,
 * look at the clients' outbound backlogs, and yield to the event loop with setImmediate (so sockets
 * flush and IPC is answered); when a backlog is over its bound, poll every millisecond until it is
 * back under half of it. The loop runs until the process is stopped.
 *
 * Two bounds, because 10,000 clients x 256 KiB would allow 2.5 GiB of queued writes: 256 KiB for one
 * client (one slow reader must not grow without bound) and 16 MiB for all of them together. When the
 * load generator reads more slowly than the server writes, the server spends its time waiting here,
 * and the figure is the generator's: the report shows the share of time spent waiting.
 */
import type { PacingStats, ServerPacing } from '../scenarios/ipc.js';

/** Per-client outbound backlog (bytes) above which the loop waits. */
export const MAX_CLIENT_BACKLOG = 256 * 1024;
/** Outbound backlog of all clients together (bytes) above which the loop waits. */
export const MAX_TOTAL_BACKLOG = 16 * 1024 * 1024;
/** How often a waiting loop looks at the backlogs again, ms. */
const POLL_MS = 1;

/** The 64-byte message every scenario broadcasts, the same bytes for every server. */
export function broadcastPayload(): Buffer {
  const payload = Buffer.alloc(64);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  return payload;
}

/**
 * Whether the clients' backlogs are over the bounds divided by `divisor` (1: stop sending; 2: the
 * level to resume at).
 */
export function backlogsOver<C>(
  clients: Iterable<C>,
  backlog: (client: C) => number,
  divisor: number,
): boolean {
  let total = 0;
  for (const client of clients) {
    const bytes = backlog(client);
    if (bytes > MAX_CLIENT_BACKLOG / divisor) return true;
    total += bytes;
  }
  return total > MAX_TOTAL_BACKLOG / divisor;
}

export interface BroadcastTarget<C> {
  /** The open clients (a live collection: the loop starts when it holds enough). */
  clients: ReadonlySet<C>;
  /** A client's outbound backlog in bytes, as its library reports it. */
  backlog(client: C): number;
  /** Send the payload once to every client. */
  broadcastOnce(): void;
}

/** Start the loop once `count` clients are connected; answers { type: 'pacing' } over IPC. */
export function startBroadcastLoop<C>(target: BroadcastTarget<C>, count: number, perBatch: number): void {
  const stats: PacingStats = { broadcasts: 0, waits: 0, waitedMs: 0, clients: 0 };
  process.on('message', (raw: unknown) => {
    if ((raw as { type?: unknown }).type !== 'pacing') return;
    const message: ServerPacing = { type: 'pacing', stats: { ...stats, clients: target.clients.size } };
    if (process.connected && process.send !== undefined) process.send(message);
  });

  const over = (divisor: number): boolean => backlogsOver(target.clients, target.backlog, divisor);

  let waitStarted = 0;
  const batch = (): void => {
    for (let i = 0; i < perBatch; i++) target.broadcastOnce();
    stats.broadcasts += perBatch;
    // Look at the backlogs once the batch is written: servers that cork their sockets for the batch
    // uncork them on a tick queued before this one.
    process.nextTick(afterBatch);
  };
  const afterBatch = (): void => {
    if (over(1)) {
      stats.waits++;
      waitStarted = performance.now();
      setTimeout(waitForDrain, POLL_MS);
    } else {
      setImmediate(batch);
    }
  };
  const waitForDrain = (): void => {
    if (over(2)) {
      setTimeout(waitForDrain, POLL_MS);
      return;
    }
    stats.waitedMs += performance.now() - waitStarted;
    setImmediate(batch);
  };

  // Wait for every client: connecting 10,000 of them takes seconds, and a broadcast to a partial set
  // would only slow the handshakes down.
  const waitForClients = (): void => {
    if (target.clients.size >= count) setImmediate(batch);
    else setTimeout(waitForClients, 10);
  };
  waitForClients();
}
