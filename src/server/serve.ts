/**
 * The composition root behind `conduit serve`: one HTTP (or HTTPS) server carrying
 *   GET /            the demo page (chat with presence, market ticker, transport control)
 *   GET /ws-console  a raw WebSocket console for /echo and /broadcast
 *   GET /conduit.js  the hub's browser client, one ESM file (src/client, bundled by `npm run build`)
 *   GET /healthz     liveness probe ("ok", or "degraded: redis <state>" while Redis is away; 200 both)
 *   GET /metrics     Prometheus text format (metrics.ts)
 *   WS  /echo        every message echoed back with its type; the first offered subprotocol is selected
 *   WS  /broadcast   every text message forwarded to every /broadcast client, the sender included
 *   WS  /ws          the realtime hub, subprotocol conduit.v1 (docs/protocol.md, hub-websocket.ts)
 *   GET /hub/sse, GET /hub/poll, POST /hub/send   the hub over SSE and long-polling (hub-http.ts)
 *   GET  /sse?channel=NAME      SSE stream of a channel, resumable with Last-Event-ID (sse-channels.ts)
 *   POST /publish?channel=NAME  publish the body to a channel: 202 {"id": n}
 *   POST /api/...               the server API for backends, with an API key (api.ts; off without one)
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { PerMessageDeflateOptions } from '../pipeline/permessage-deflate.js';
import { fieldLinesError } from '../protocol/http1/request-head.js';
import { AssemblyBudget } from '../protocol/ws/assembly.js';
import { CloseCode } from '../protocol/ws/close-codes.js';
import { RedisBroker, type RedisBrokerOptions } from '../session/brokers/redis.js';
import { Hub, type HubOptions } from '../session/hub.js';
import type { WebSocketConnection } from '../transports/ws/connection.js';
import { PreparedMessage } from '../transports/ws/prepared.js';
import { WebSocketServer } from '../transports/ws/server.js';
import { Admission, type AdmissionOptions } from './admission.js';
import { type ApiOptions, ServerApi } from './api.js';
import { Demo, type DemoOptions } from './demo.js';
import { behindClose, replyJson } from './http-body.js';
import { applyHttpLimits, type HttpLimitsOptions, resolveHttpLimits } from './http-limits.js';
import { HubAccess, type HubAccessOptions } from './hub-access.js';
import { HUB_HTTP_PATHS, HubHttp, type HubHttpOptions } from './hub-http.js';
import { HubMesh } from './hub-mesh.js';
import { chooseHubProtocol, serveHubOverWebSocket } from './hub-websocket.js';
import { renderMetrics } from './metrics.js';
import { SseChannels, type SseChannelsOptions } from './sse-channels.js';

export interface ServeOptions {
  host?: string;
  port?: number;
  /**
   * PEM certificate and key: serve HTTPS, with HTTP/2 and HTTP/1.1 on the same port (ALPN), and wss:
   * over HTTP/1.1.
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Largest message accepted, bytes. Default 16 MiB. */
  maxPayload?: number;
  /**
   * Memory for the messages being received on every WebSocket route together, bytes: past it the
   * connection whose message would grow closes with 1013. Default 512 MiB.
   */
  receiveBudget?: number;
  /** Heartbeat ping interval, ms (0: off). Default 30 s. */
  heartbeatInterval?: number;
  /**
   * A /broadcast client whose unsent backlog exceeds this many bytes is closed with 1008 rather than
   * buffered without bound. Default 8 MiB.
   */
  broadcastBacklogLimit?: number;
  /**
   * permessage-deflate on every WebSocket route: options, or false to turn it off. Default: shared
   * mode (no per-connection zlib state; see PerMessageDeflateOptions).
   */
  perMessageDeflate?: false | PerMessageDeflateOptions;
  /** /sse and /publish: replay buffer per channel (default 1000 events), limits, stream options. */
  sse?: SseChannelsOptions;
  /** The realtime hub behind /ws, /hub/sse and /hub/poll. */
  hub?: HubOptions;
  /** Who may use the hub, on every transport: Origin allow-list and signed tokens (hub-access.ts). */
  access?: HubAccessOptions;
  /**
   * Limits per client address (admission.ts): connections (256), WebSocket handshakes in flight (32;
   * 1,024 in all), new hub sessions (10 a second, bursts of 50) and sessions held (1,000), and the
   * proxies whose X-Forwarded-For is believed. Answers: 429/503 with Retry-After, or close 1013.
   */
  admission?: AdmissionOptions;
  /**
   * The server API for backends under /api/ (api.ts): publish, history, presence, info, with
   * `Authorization: apikey KEY`. Off (404) without a key.
   */
  api?: Omit<ApiOptions, 'bodyTimeoutMs'>;
  /** The hub's HTTP transports: poll timeout, POST size (hub-http.ts). */
  hubHttp?: HubHttpOptions;
  /**
   * The HTTP server's limits: request head and body deadlines, keep-alive, TLS handshake, connections
   * held at once (by default under the open-file limit, refusals logged). See HttpLimitsOptions.
   */
  http?: HttpLimitsOptions;
  /**
   * The demo page's server side (demo.ts): the market feed and /demo/token. Default false (the CLI
   * turns it on). Demo tokens are signed with a random secret of their own and clients without a token
   * stay welcome; with `access.tokenSecret` set, /demo/token is not served (anyone could get a token
   * for any user) and the page connects with no token.
   */
  demo?: boolean | DemoOptions;
  /**
   * Scale-out: the hub's broker in Redis (a redis:// URL, or RedisBrokerOptions), so that several
   * nodes share channels, history and presence. Startup fails with a clear error when Redis cannot be
   * reached or refuses the credentials. Default: the in-memory broker (one node).
   */
  redis?: string | RedisBrokerOptions;
  /**
   * Structured logs (a pino logger): startup, Redis going away and coming back, shutdown. Default:
   * none. `conduit serve` logs JSON lines to stderr (`--log-level`).
   */
  logger?: Logger;
}

export interface RunningServer {
  /** An http.Server, or with `tls` an HTTP/2 secure server that also speaks HTTP/1.1. */
  readonly http: Server | Http2SecureServer;
  readonly port: number;
  /** Base URL, http: or https:. */
  readonly url: string;
  readonly echo: WebSocketServer;
  readonly broadcast: WebSocketServer;
  readonly channels: SseChannels;
  /** The realtime hub behind /ws (docs/protocol.md). */
  readonly hub: Hub;
  close(): Promise<void>;
}

const DEMO_PAGE = fileURLToPath(new URL('../../../demo/index.html', import.meta.url));
const CONSOLE_PAGE = fileURLToPath(new URL('../../../demo/ws-console.html', import.meta.url));
const CLIENT_BUNDLE = fileURLToPath(new URL('../../client/conduit.js', import.meta.url));

/** The client bundle, plain and gzipped, with its ETag; null when it was not built. */
async function loadBundle(): Promise<{ plain: Buffer; gzip: Buffer; etag: string } | null> {
  try {
    const plain = await readFile(CLIENT_BUNDLE);
    const etag = `"${createHash('sha256').update(plain).digest('base64url').slice(0, 22)}"`;
    return { plain, gzip: gzipSync(plain, { level: 9 }), etag };
  } catch {
    return null;
  }
}

export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const page = await readFile(DEMO_PAGE);
  const consolePage = await readFile(CONSOLE_PAGE);
  const bundle = await loadBundle();
  const logger = options.logger;
  const broker =
    options.redis === undefined ? undefined : await connectRedis(options.redis, options.hub, logger);
  const hub = new Hub({ ...options.hub, ...(broker === undefined ? {} : { broker }) });
  const demo = options.demo ? new Demo(hub, options.demo === true ? {} : options.demo) : null;
  const demoTokens = demo !== null && options.access?.tokenSecret === undefined;
  const access = new HubAccess(
    demoTokens ? { ...options.access, tokenSecret: demo.secret, allowAnonymous: true } : options.access,
  );
  const mesh = broker === undefined ? null : new HubMesh(broker, hub);
  await mesh?.start();
  // A session's key must resume it on any node: all of them use the secret kept in Redis.
  if (mesh !== null && options.hub?.sessionSecret === undefined)
    hub.sessionKeys.use(await mesh.sharedSessionSecret());
  // Now that Redis is connected: the default connection limit counts the descriptors open so far.
  const limits = resolveHttpLimits(options.http);
  const channels = new SseChannels({ bodyTimeoutMs: limits.bodyTimeoutMs, ...options.sse });
  const admission = new Admission(options.admission);
  hub.onSessionEnded((session) => admission.sessionEnded(session.id));
  const hubHttp = new HubHttp(
    hub,
    access,
    { bodyTimeoutMs: limits.bodyTimeoutMs, ...options.hubHttp },
    mesh,
    admission,
  );
  const hubPaths: readonly string[] = HUB_HTTP_PATHS;
  const api =
    options.api === undefined
      ? null
      : new ServerApi(hub, { bodyTimeoutMs: limits.bodyTimeoutMs, ...options.api });
  const onRequest = (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ) => {
    if (behindClose(req)) return;
    // Node's parser lets two Host fields through (and keeps the first); RFC 9112 says 400. A missing
    // Host is checked here too, not by Node: its own 400 would still serve requests pipelined behind.
    const invalid = fieldLinesError(req.rawHeaders, {
      requireHost: req.httpVersionMajor === 1 && req.httpVersionMinor >= 1,
    });
    if (invalid !== null) {
      replyJson(res, invalid.status, { error: invalid.message }, true);
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (hubPaths.includes(path)) {
      hubHttp.handle(req, res, path);
    } else if (path.startsWith('/api/')) {
      if (api === null) {
        replyJson(res, 404, { code: 'NOT_FOUND', message: 'the server API is off: configure an API key' });
      } else {
        api.handle(req, res, path).catch(() => res.destroy());
      }
    } else if (path === '/publish') {
      if (req.method === 'POST') channels.publish(req, res);
      else res.writeHead(405, { Allow: 'POST', 'Content-Type': 'text/plain' }).end('Method Not Allowed\n');
    } else if (path === '/sse') {
      if (req.method === 'GET') channels.subscribe(req, res);
      else res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain' }).end('Method Not Allowed\n');
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('Method Not Allowed\n');
    } else if (path === '/' || path === '/index.html') {
      res
        .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length })
        .end(page);
    } else if (path === '/ws-console') {
      res
        .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': consolePage.length })
        .end(consolePage);
    } else if (path === '/demo/token' && demo !== null && demoTokens) {
      void demo.token(req, res);
    } else if (path === '/conduit.js') {
      serveBundle(req, res, bundle);
    } else if (path === '/healthz') {
      // 200 while the process serves: without Redis it still serves its own subscribers.
      const redis = broker?.status ?? 'ready';
      res
        .writeHead(200, { 'Content-Type': 'text/plain' })
        .end(redis === 'ready' ? 'ok\n' : `degraded: redis ${redis}\n`);
    } else if (path === '/metrics') {
      const text = renderMetrics({
        hub: hub.stats(),
        redis: broker?.status ?? null,
        sseSubscribers: channels.subscriberCount,
        admission,
      });
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text);
    } else if (path === '/echo' || path === '/broadcast' || path === '/ws') {
      // HTTP/2 has no Upgrade header (a connection-specific field, RFC 9113 section 8.2.2).
      const headers: Record<string, string> = { 'Content-Type': 'text/plain' };
      if (req.httpVersionMajor < 2) headers.Upgrade = 'websocket';
      res.writeHead(426, headers).end('Upgrade Required\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found\n');
    }
  };
  const http: Server | Http2SecureServer = options.tls
    ? createSecureServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          allowHTTP1: true,
          handshakeTimeout: limits.tlsHandshakeTimeoutMs,
        },
        onRequest,
      )
    : createHttpServer({ requireHostHeader: false }, onRequest);
  const guard = applyHttpLimits(http, limits, logger);
  // Every TCP connection, to end them all on close (an HTTP/2 server has no closeAllConnections).
  const sockets = new Set<Socket>();
  http.on('connection', (socket: Socket) => {
    // Past its address's limit a connection is answered 429 and closed (a trusted proxy's are not limited).
    admission.connection(socket, options.tls === undefined);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const common = {
    server: http,
    maxPayload: options.maxPayload,
    heartbeatInterval: options.heartbeatInterval ?? 30_000,
    perMessageDeflate: options.perMessageDeflate ?? { mode: 'shared' as const },
    admit: admission.admitHandshake,
    receiveBudget: new AssemblyBudget(options.receiveBudget ?? 512 * 1024 * 1024),
  };
  const echo = new WebSocketServer({
    ...common,
    path: '/echo',
    handleProtocols: (protocols) => protocols[0] ?? false,
  });
  echo.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      ws.send(isBinary ? data : data.toString('utf8'));
    });
  });

  const broadcast = new WebSocketServer({ ...common, path: '/broadcast' });
  const backlogLimit = options.broadcastBacklogLimit ?? 8 * 1024 * 1024;
  broadcast.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.close(CloseCode.UnsupportedData, '/broadcast accepts text messages only');
        return;
      }
      // Framed (and compressed) once for every client.
      const message = new PreparedMessage(data.toString('utf8'));
      for (const client of broadcast.clients) sendOrShed(client, message, backlogLimit);
    });
  });

  const hubSockets = new WebSocketServer({
    ...common,
    path: '/ws',
    handleProtocols: chooseHubProtocol,
    origins: (origin) => access.originAllowed(origin),
  });
  serveHubOverWebSocket(hub, hubSockets, access, mesh, admission);

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 8080, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  guard.listening();
  const port = (http.address() as AddressInfo).port;
  // With several nodes, clients are told which one they are on.
  if (broker !== undefined && hub.node === undefined) hub.node = `${host}:${port}`;
  const url = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger?.info(
    { url, redis: broker !== undefined, node: hub.node, maxConnections: limits.maxConnections },
    'listening',
  );
  const scheme = options.tls ? 'https' : 'http';
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    http,
    port,
    url: `${scheme}://${urlHost}:${port}`,
    echo,
    broadcast,
    channels,
    hub,
    async close() {
      logger?.info(
        { sessions: hub.stats().sessions },
        'shutting down: clients are told to reconnect elsewhere (1001)',
      );
      channels.closeAll();
      demo?.close();
      await hub.close();
      admission.close();
      await mesh?.close();
      await broker?.close();
      hubHttp.close();
      await Promise.all([echo.close(), broadcast.close(), hubSockets.close()]);
      guard.close();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

/** The Redis broker, ready: Redis answered (and took the credentials), or a clear error. */
async function connectRedis(
  redis: string | RedisBrokerOptions,
  hub: HubOptions | undefined,
  logger: Logger | undefined,
): Promise<RedisBroker> {
  const options: RedisBrokerOptions = typeof redis === 'string' ? { redis } : redis;
  let ready = false;
  const onStatus: RedisBrokerOptions['onStatus'] = (status, error) => {
    if (logger === undefined || !ready) return;
    if (status === 'ready')
      logger.info({ redis: 'ready' }, 'redis is back: publishing again, subscriptions resynced');
    else if (status === 'error') logger.error({ redis: 'error', err: error }, 'redis connection error');
    else logger.warn({ redis: status }, 'redis unreachable: local subscribers still served, publishes fail');
  };
  const broker = new RedisBroker({ history: hub?.history, onStatus, ...options });
  try {
    await broker.ready();
  } catch (error) {
    broker.disconnect();
    throw new Error(`cannot use Redis at ${describeRedis(options)}: ${(error as Error).message}`);
  }
  ready = true;
  return broker;
}

/** Which Redis the options name, for messages (no password). */
function describeRedis(options: RedisBrokerOptions): string {
  const hostPort = (n: { host?: string; port?: number } | string | number) =>
    typeof n === 'object' ? `${n.host}:${n.port}` : String(n);
  if (options.cluster !== undefined)
    return `the Redis Cluster of ${options.cluster.nodes.map(hostPort).join(', ')}`;
  if (typeof options.redis === 'string') return redactUrl(options.redis);
  const sentinels = options.redis?.sentinels;
  if (sentinels !== undefined && sentinels !== null) {
    return `the master '${options.redis?.name}' of the sentinels ${sentinels.map(hostPort).join(', ')}`;
  }
  return 'the configured Redis';
}

/** A URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'an unparsable URL';
  }
}

function serveBundle(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  bundle: { plain: Buffer; gzip: Buffer; etag: string } | null,
): void {
  const r = res as ServerResponse;
  if (bundle === null) {
    r.writeHead(503, { 'Content-Type': 'text/plain' }).end('the client bundle is not built: npm run build\n');
    return;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/javascript; charset=utf-8',
    'Cache-Control': 'no-cache',
    ETag: bundle.etag,
    Vary: 'Accept-Encoding',
  };
  if (req.headers['if-none-match'] === bundle.etag) {
    r.writeHead(304, headers).end();
    return;
  }
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gzip ? bundle.gzip : bundle.plain;
  if (gzip) headers['Content-Encoding'] = 'gzip';
  headers['Content-Length'] = body.length;
  r.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body);
}

function sendOrShed(client: WebSocketConnection, message: PreparedMessage, limit: number): void {
  if (client.readyState !== 1) return;
  if (client.bufferedAmount > limit) {
    client.close(CloseCode.PolicyViolation, 'too slow: broadcast backlog limit exceeded');
    return;
  }
  client.send(message);
}
