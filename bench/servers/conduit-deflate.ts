/**
 * Server under test: Conduit's WebSocketServer with permessage-deflate, echoing every message with its
 * type. argv[3] picks the memory mode: 'shared' (no context takeover either way: no zlib state kept
 * between messages) or 'dedicated' (context takeover, like ws).
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/index.js';
import { simdMaskAvailable } from '../../src/util/mask-simd.js';
import { startHarness } from './harness.js';
import { answerMemoryRequests } from './memory-probe.js';

const mode = process.argv[3];
if (mode !== 'shared' && mode !== 'dedicated') {
  console.error(`conduit-deflate: argv[3] must be shared or dedicated, got ${mode}`);
  process.exit(2);
}

const wss = new WebSocketServer({
  port: 0,
  host: '127.0.0.1',
  path: '/echo',
  perMessageDeflate: { mode },
});
const harness = startHarness(() => {
  // Do not wait for closing handshakes: the load generator is already gone or going.
  for (const client of wss.clients) client.terminate();
  return wss.close();
});
answerMemoryRequests(() => wss.clients.size);
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => {
    // Conduit sends a Buffer as binary whatever `binary` says (only strings go as text), so a text
    // message goes back as a string to stay text: a 4 KiB decode and encode, ~1-2 us against the
    // tens of us of inflate and deflate. (ws sends a Buffer as text with { binary: false }.)
    socket.send(isBinary ? data : data.toString());
  });
  // The soak destroys some connections abruptly: that must not crash the server.
  socket.on('error', () => undefined);
});
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  const profiled = process.execArgv.some((a) => a.startsWith('--cpu-prof'));
  const kernel = simdMaskAvailable ? 'WebAssembly SIMD masking' : 'scalar TypeScript masking';
  harness.ready(
    port,
    `conduit, permessage-deflate mode '${mode}' (${kernel})${profiled ? ', under --cpu-prof' : ''}`,
  );
});
