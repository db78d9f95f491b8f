/**
 * `conduit serve`'s server (startServer) in a process of its own, for tests that load it (the hub
 * chaos test): the clients' work stays out of its event loop. Started with `fork(this file, [JSON
 * ServeOptions])`; it sends { type: 'listening', port } and exits when the parent disconnects (at once
 * when started without an IPC channel, so a test runner that picks it up as a file does nothing).
 */
import { startServer } from '../../src/server/serve.js';

if (typeof process.send !== 'function') process.exit(0);

const server = await startServer({ port: 0, ...JSON.parse(process.argv[2] ?? '{}') });
process.send?.({ type: 'listening', port: server.port });
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', ...server.hub.stats() });
});
process.on('disconnect', () => {
  void server.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
