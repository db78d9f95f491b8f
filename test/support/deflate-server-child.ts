/**
 * A Conduit server with permessage-deflate in a process of its own, for tests that measure memory
 * (test/transports/ws/deflate-bad-input.test.ts): the test process's own allocations stay out of the
 * numbers. Started with `fork(this file, [JSON options])`; talks over the IPC channel only:
 *
 *   child -> parent  { type: 'listening', port }
 *   parent -> child  { type: 'stats' }   answered with a Stats object ({ type: 'stats', ... })
 *
 * It exits when the parent disconnects, and at once when started without an IPC channel (so a test
 * runner that picks it up as a file does nothing).
 */

import { WebSocketServer } from '../../src/index.js';
import { zlibLimiter } from '../../src/pipeline/zlib-limiter.js';

export interface ChildOptions {
  mode: 'shared' | 'dedicated';
  maxPayload: number;
}

export interface Stats {
  type: 'stats';
  /** Resident set size now, bytes (after GCs when --expose-gc was given). */
  rss: number;
  /** The largest resident set size so far, bytes. */
  maxRss: number;
  /** V8 heap in use plus memory outside it that V8 is told of (Buffers, zlib contexts), bytes. */
  live: number;
  zlib: { active: number; waiting: number };
  /** Connections still open. */
  clients: number;
  /** Close codes of the connections that ended, in order. */
  closes: number[];
}

if (typeof process.send !== 'function') process.exit(0);

const options = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
const closes: number[] = [];
const server = new WebSocketServer({
  port: 0,
  host: '127.0.0.1',
  maxPayload: options.maxPayload,
  perMessageDeflate: { mode: options.mode },
  closeTimeout: 1000,
});
server.on('connection', (conn) => {
  conn.on('message', (data, isBinary) => conn.send(isBinary ? data : data.toString('utf8')));
  conn.on('close', (code) => closes.push(code));
});
server.once('listening', () => {
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : 0;
  process.send?.({ type: 'listening', port });
});
process.on('message', async (message: { type?: string }) => {
  if (message.type !== 'stats') return;
  const gc = (globalThis as { gc?: () => void }).gc;
  // Twice, a moment apart: a zlib stream's native memory is released by a finalizer that runs after
  // the collection that found it unreachable.
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc?.();
  const stats: Stats = {
    type: 'stats',
    rss: process.memoryUsage.rss(),
    maxRss: process.resourceUsage().maxRSS * 1024,
    live: process.memoryUsage().heapUsed + process.memoryUsage().external,
    zlib: zlibLimiter.stats,
    clients: server.clients.size,
    closes: [...closes],
  };
  process.send?.(stats);
});
process.on('disconnect', () => {
  for (const client of server.clients) client.terminate();
  void server.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
