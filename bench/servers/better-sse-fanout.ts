/**
 * Fan-out server under test: better-sse, as its README shows channels: createSession(req, res), then
 * channel.register(session), and channel.broadcast(data) per event. Options that make it do the same
 * work as Conduit: the event id is a counter (as Conduit's, instead of its default random UUID) and the
 * serializer passes the text through (its default, JSON.stringify, would quote it). Everything else is
 * its default (keep-alive every 10 s, retry 2000 sent first, `event: message` on every event).
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createChannel, createSession } from 'better-sse';
import { fanoutPlan, startPublisher } from './fanout-publisher.js';
import { startHarness } from './harness.js';

const require = createRequire(import.meta.url);
const plan = fanoutPlan();
if (plan.transport === 'ws') {
  console.error('better-sse serves SSE only');
  process.exit(2);
}

type Response = ServerResponse | Http2ServerResponse;
const channel = createChannel();
const responses = new Set<Response>();
let lastId = 0;
const onRequest = (req: IncomingMessage | Http2ServerRequest, res: Response): void => {
  if (!(req.url ?? '').startsWith('/sse?')) {
    res.writeHead(404).end();
    return;
  }
  const options = { serializer: (data: unknown) => String(data) };
  const session =
    plan.transport === 'sse-h1'
      ? createSession(req as IncomingMessage, res as ServerResponse, options)
      : createSession(req as Http2ServerRequest, res as Http2ServerResponse, options);
  session.then(
    (session) => {
      channel.register(session);
      responses.add(res);
      res.on('close', () => responses.delete(res));
    },
    () => res.destroy(),
  );
};
const server = plan.transport === 'sse-h1' ? createHttp1Server(onRequest) : createHttp2Server(onRequest);
const harness = startHarness(
  () =>
    new Promise<void>((resolve) => {
      for (const res of responses) res.destroy();
      server.close(() => resolve());
    }),
);
startPublisher({
  clients: responses,
  backlog: (res) => res.writableLength,
  publish: (text) => {
    lastId++;
    channel.broadcast(text, 'message', { eventId: String(lastId) });
  },
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  // better-sse's exports do not include its package.json: read it next to the entry point.
  const manifest = join(dirname(require.resolve('better-sse')), '..', 'package.json');
  const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  const over = plan.transport === 'sse-h1' ? 'HTTP/1.1' : 'HTTP/2 (h2c)';
  harness.ready(port, `better-sse ${version} over ${over}, channel.broadcast(text, 'message', { eventId })`);
});
