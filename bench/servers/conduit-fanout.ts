/**
 * Fan-out server under test: Conduit. SSE (HTTP/1.1, or HTTP/2 cleartext) goes through SseChannels,
 * the code behind `conduit serve`'s GET /sse and POST /publish: every event gets the channel's next id,
 * is kept in the replay buffer, encoded once and written to every subscriber. WebSocket goes through
 * WebSocketServer.broadcast(). 'hub' is the realtime hub of `conduit serve`'s /ws: a channel with
 * offsets and history, each subscriber a session (subprotocol conduit.v1, permessage-deflate off as in
 * Socket.IO's default); with `plan.redis` the hub is one node of several, on a RedisBroker. The
 * publisher is fanout-publisher.ts's, the same for every server.
 */
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/index.js';
import { HubAccess } from '../../src/server/hub-access.js';
import { chooseHubProtocol, serveHubOverWebSocket } from '../../src/server/hub-websocket.js';
import { SseChannels } from '../../src/server/sse-channels.js';
import { RedisBroker } from '../../src/session/brokers/redis.js';
import { Hub } from '../../src/session/hub.js';
import { fanoutPlan, startPublisher } from './fanout-publisher.js';
import { startHarness } from './harness.js';
import { answerIdleMemoryRequests } from './idle-memory.js';

const CHANNEL = 'bench';
const plan = fanoutPlan();
const profiled = process.execArgv.some((a) => a.startsWith('--cpu-prof')) ? ', under --cpu-prof' : '';

if (plan.transport === 'hub') {
  // One node of several (cross-node scenario): publications and history go through Redis.
  const broker =
    plan.redis === undefined
      ? undefined
      : new RedisBroker({ redis: plan.redis.url, prefix: plan.redis.prefix });
  const hub = new Hub(broker === undefined ? {} : { broker });
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    path: '/ws',
    handleProtocols: chooseHubProtocol,
    perMessageDeflate: false,
  });
  const harness = startHarness(async () => {
    await hub.close();
    for (const client of wss.clients) client.terminate();
    await wss.close();
    await broker?.close();
  });
  serveHubOverWebSocket(hub, wss, new HubAccess());
  startPublisher({
    clients: wss.clients,
    backlog: (client) => client.bufferedAmount,
    publish: (text) => void hub.publish(CHANNEL, text).catch(() => undefined),
  });
  answerIdleMemoryRequests(() => wss.clients.size);
  wss.on('listening', () => {
    const { port } = wss.address() as AddressInfo;
    const over = broker === undefined ? '' : ', RedisBroker (history in a Redis Stream, Redis pub/sub)';
    void (broker?.ready() ?? Promise.resolve()).then(
      () =>
        harness.ready(
          port,
          `conduit hub over WebSocket (/ws, conduit.v1), hub.publish(channel, text)${over}${profiled}`,
        ),
      (error: unknown) => {
        console.error(`the hub's Redis broker is not ready: ${String(error)}`);
        process.exit(4);
      },
    );
  });
} else if (plan.transport === 'ws') {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/fanout' });
  const harness = startHarness(() => {
    for (const client of wss.clients) client.terminate();
    return wss.close();
  });
  wss.on('connection', (socket) => socket.on('error', () => undefined));
  startPublisher({
    clients: wss.clients,
    backlog: (client) => client.bufferedAmount,
    publish: (text) => wss.broadcast(text),
  });
  wss.on('listening', () => {
    const { port } = wss.address() as AddressInfo;
    harness.ready(port, `conduit WebSocket, server.broadcast(text)${profiled}`);
  });
} else {
  type Response = ServerResponse | Http2ServerResponse;
  const channels = new SseChannels();
  const responses = new Set<Response>();
  const onRequest = (req: IncomingMessage | Http2ServerRequest, res: Response): void => {
    if (!(req.url ?? '').startsWith('/sse?')) {
      res.writeHead(404).end();
      return;
    }
    channels.subscribe(req, res);
    responses.add(res);
    res.on('close', () => responses.delete(res));
  };
  const server = plan.transport === 'sse-h1' ? createHttp1Server(onRequest) : createHttp2Server(onRequest);
  const harness = startHarness(
    () =>
      new Promise<void>((resolve) => {
        channels.closeAll();
        server.close(() => resolve());
      }),
  );
  startPublisher({
    clients: responses,
    backlog: (res) => res.writableLength,
    publish: (text) => channels.publishTo(CHANNEL, text),
  });
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    const over = plan.transport === 'sse-h1' ? 'HTTP/1.1' : 'HTTP/2 (h2c)';
    harness.ready(port, `conduit SseChannels over ${over}, publishTo(channel, text)${profiled}`);
  });
}
