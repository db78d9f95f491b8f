/**
 * WebSocketServer: accepts RFC 6455 opening handshakes on an http/https server (attached), on a server
 * of its own (standalone, `port`), or from the caller's own 'upgrade' handler (`noServer` with
 * `handleUpgrade`). Several servers can share one http server, each on its own `path`.
 */
import { EventEmitter } from 'node:events';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type {
  Http2SecureServer,
  Http2ServerRequest,
  Http2ServerResponse,
  ServerHttp2Stream,
} from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import {
  checkDeflateOptions,
  DeflateCodec,
  type PerMessageDeflateOptions,
  serverDeflateConfig,
} from '../../pipeline/permessage-deflate.js';
import { HandshakeError } from '../../protocol/errors.js';
import { fieldLinesError } from '../../protocol/http1/request-head.js';
import { AssemblyBudget } from '../../protocol/ws/assembly.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/ws/connection.js';
import {
  buildAcceptResponse,
  buildRefusal,
  type ClientRequest,
  validateClientRequest,
  validateExtendedConnect,
} from '../../protocol/ws/handshake.js';
import { type DeflateConfig, negotiateAsServer } from '../../protocol/ws/permessage-deflate.js';
import type { WebSocketData } from './bytes.js';
import { WebSocketConnection } from './connection.js';
import { PreparedMessage } from './prepared.js';
import { StandaloneListener } from './standalone.js';

/** What `authenticate` answers: accept, or refuse with a status (default 401), headers and a message. */
export type AuthResult =
  | boolean
  | undefined
  // biome-ignore lint/suspicious/noConfusingVoidType: lets `async (req) => {}` (accept) type-check as a hook.
  | void
  | { status: number; headers?: Record<string, string>; message?: string };

export interface WebSocketServerOptions {
  /** Attach to this http, https or HTTP/2 secure (allowHTTP1) server. */
  server?: HostServer;
  /** Or listen on a server of our own. */
  port?: number;
  host?: string;
  /** Or accept only what the caller passes to handleUpgrade(). */
  noServer?: boolean;
  /** Only this URL path (query ignored). Without it, every path. */
  path?: string;
  /** Largest message accepted, in bytes, enforced as frames arrive. Default 16 MiB. */
  maxPayload?: number;
  /** Frames one message may span; past it the connection fails with 1008. Default 16,384. */
  maxFragments?: number;
  /**
   * Memory for the messages being received on all of this server's connections together, bytes, or a
   * budget shared with other servers (`new AssemblyBudget(bytes)`). A connection whose message would
   * grow past it fails with 1013 (try again later). It counts what was received, so a peer fills it
   * only by sending. Default 512 MiB.
   */
  receiveBudget?: number | AssemblyBudget;
  /**
   * Milliseconds allowed from the upgrade request to the 101 answer, hooks included; on a standalone
   * server also the time a client may take to send its request head. Default 10 s.
   */
  handshakeTimeout?: number;
  /**
   * Ping every client this often (ms) and terminate one from which nothing, not even a pong, arrived
   * since the previous ping. 0 (the default) turns heartbeats off.
   */
  heartbeatInterval?: number;
  /** Allowed Origin values (exact match), or a predicate. A browser from elsewhere gets 403. */
  origins?: readonly string[] | ((origin: string | undefined, req: IncomingMessage) => boolean);
  /**
   * Admission, before anything else is done for an upgrade request: a HandshakeError refuses it at once
   * (its status and headers), or the function returned is called once the handshake is over, accepted
   * or not (handshakes in flight: server/admission.ts).
   */
  admit?: (req: IncomingMessage) => HandshakeError | (() => void);
  /** Decide whether to accept a request; may be async. Refuse with any status and headers. */
  authenticate?: (req: IncomingMessage) => AuthResult | Promise<AuthResult>;
  /**
   * Choose a subprotocol among those offered (client's order of preference), or false for none.
   * Default: the first one offered, as ws does.
   */
  handleProtocols?: (protocols: readonly string[], req: IncomingMessage) => string | false;
  /** Milliseconds to wait for the peer's side of the closing handshake. Default 30 s. */
  closeTimeout?: number;
  /** Outbound bytes above which a connection stops reading until they drain. Default 1 MiB. */
  highWaterMark?: number;
  /** Stop reading from a connection while it is over `highWaterMark` (default true). */
  pauseOnBackpressure?: boolean;
  /** Track connections in `clients` (default true). */
  clientTracking?: boolean;
  /**
   * permessage-deflate (RFC 7692): false (the default, as in ws), true for the defaults (shared
   * mode), or options. See `PerMessageDeflateOptions` for the shared and dedicated memory modes.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

export type WebSocketServerEvents = {
  connection: [socket: WebSocketConnection, request: IncomingMessage];
  listening: [];
  /** A handshake was refused or failed: for logging; the socket was already answered and closed. */
  handshakeError: [error: HandshakeError, request: IncomingMessage];
  error: [error: Error];
  close: [];
};

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
const DEFAULT_RECEIVE_BUDGET = 512 * 1024 * 1024;
/** Distinct permessage-deflate agreements a server keeps one shared copy of (see `intern`). */
const MAX_INTERNED_AGREEMENTS = 32;

type NegotiatedDeflate = NonNullable<ReturnType<typeof negotiateAsServer>>;

/** What a handshake agreed on. */
interface Decision {
  protocol: string | undefined;
  extensions: string;
  deflate: DeflateCodec | null;
}

const EMPTY_HEAD = Buffer.alloc(0);

interface Route {
  path: string | undefined;
  server: WebSocketServer;
}

/** One 'upgrade' listener per http server, dispatching on the path to the WebSocketServers sharing it. */
const routers = new WeakMap<HostServer, Route[]>();

/**
 * A server whose HTTP/1.1 upgrade requests a WebSocketServer can take: http, https, or an HTTP/2
 * secure server with `allowHTTP1` (its HTTP/1.1 connections emit 'upgrade' as https does).
 */
export type HostServer = HttpServer | HttpsServer | Http2SecureServer;

function attach(http: HostServer, route: Route): void {
  let routes = routers.get(http);
  if (routes === undefined) {
    const list: Route[] = [];
    routes = list;
    routers.set(http, list);
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const pathname = pathOf(req.url);
      const match = list.find((r) => r.path === undefined || r.path === pathname);
      if (match !== undefined) {
        match.server.handleUpgrade(req, socket, head, (ws) => match.server.emit('connection', ws, req));
        return;
      }
      // Leave the request to another upgrade handler if the application installed one.
      if (http.listenerCount('upgrade') > 1) return;
      refuse(socket, new HandshakeError('WS_ERR_NOT_FOUND', 404, `no WebSocket endpoint at ${pathname}`));
    };
    (http as EventEmitter).on('upgrade', listener);
    if (isHttp2Server(http)) attachHttp2(http, list);
  }
  routes.push(route);
}

/** Answer a refused extended CONNECT on its stream (status, headers, the message as text). */
function refuseStream(stream: ServerHttp2Stream, error: HandshakeError): void {
  if (stream.destroyed || stream.headersSent) return;
  const headers: Record<string, string | number> = { ':status': error.status, 'content-type': 'text/plain' };
  for (const [name, value] of Object.entries(error.headers)) headers[name.toLowerCase()] = value;
  stream.respond(headers);
  stream.end(`${error.message}\n`);
}

function isHttp2Server(http: HostServer): http is Http2SecureServer {
  return typeof (http as Partial<Http2SecureServer>).updateSettings === 'function';
}

/**
 * RFC 8441 on an HTTP/2 server: advertise SETTINGS_ENABLE_CONNECT_PROTOCOL and take extended CONNECT
 * requests for the routes' paths. Anything else on a stream is refused on that stream alone (404 for
 * a path with no WebSocket, 501 for a `:protocol` other than websocket); the session lives on.
 */
function attachHttp2(http: Http2SecureServer, list: Route[]): void {
  http.updateSettings({ enableConnectProtocol: true });
  const listener = (req: Http2ServerRequest, res: Http2ServerResponse | Duplex) => {
    const alone = (http as EventEmitter).listenerCount('connect') === 1;
    if (req.httpVersionMajor !== 2) {
      // An HTTP/1.1 CONNECT on an allowHTTP1 server: not ours; refuse it unless someone else listens.
      if (alone) (res as Duplex).end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n');
      return;
    }
    const response = res as Http2ServerResponse;
    const pathname = pathOf(req.url);
    const match = list.find((r) => r.path === undefined || r.path === pathname);
    if (match !== undefined) {
      match.server.handleHttp2(req, response, (ws) =>
        match.server.emit('connection', ws, req as unknown as IncomingMessage),
      );
      return;
    }
    if (!alone) return;
    refuseStream(
      response.stream,
      req.headers[':protocol'] !== 'websocket'
        ? new HandshakeError('WS_ERR_BAD_UPGRADE', 501, 'unsupported :protocol')
        : new HandshakeError('WS_ERR_NOT_FOUND', 404, `no WebSocket endpoint at ${pathname}`),
    );
  };
  (http as EventEmitter).on('connect', listener);
}

function detach(http: HostServer, server: WebSocketServer): void {
  const routes = routers.get(http);
  if (routes === undefined) return;
  const at = routes.findIndex((r) => r.server === server);
  if (at >= 0) routes.splice(at, 1);
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function refuse(socket: Duplex, error: HandshakeError): void {
  if (socket.writable) {
    socket.end(buildRefusal(error.status, error.message, error.headers));
    // Make sure a peer that never reads cannot keep the socket.
    setTimeout(() => socket.destroy(), 1000).unref();
  } else {
    socket.destroy();
  }
}

export class WebSocketServer extends EventEmitter<WebSocketServerEvents> {
  /** Open connections (when clientTracking is on). */
  readonly clients = new Set<WebSocketConnection>();
  private readonly options: WebSocketServerOptions;
  private readonly http: HostServer | null;
  /** The listener of a standalone server (`port`). */
  private readonly standalone: StandaloneListener | null;
  private heartbeat: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private readonly deflateOptions: PerMessageDeflateOptions | null;
  private readonly deflateConfig: DeflateConfig;
  /** Shared by the messages being received on every connection (receiveBudget). */
  private readonly receiveBudget: AssemblyBudget;

  constructor(options: WebSocketServerOptions) {
    super();
    this.options = options;
    const budget = options.receiveBudget ?? DEFAULT_RECEIVE_BUDGET;
    this.receiveBudget = typeof budget === 'number' ? new AssemblyBudget(budget) : budget;
    const modes =
      Number(options.server !== undefined) +
      Number(options.port !== undefined) +
      Number(options.noServer === true);
    if (modes !== 1) throw new TypeError('exactly one of server, port or noServer must be given');
    const pmd = options.perMessageDeflate ?? false;
    this.deflateOptions = pmd === false ? null : pmd === true ? {} : pmd;
    if (this.deflateOptions !== null) checkDeflateOptions(this.deflateOptions);
    this.deflateConfig = serverDeflateConfig(this.deflateOptions ?? {});
    if (options.port !== undefined) {
      // A TCP listener of our own that reads the request head itself: no http machinery per socket.
      const listener = new StandaloneListener({
        headTimeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
        upgrade: (req, socket, head) => {
          if (options.path !== undefined && pathOf(req.url) !== options.path) {
            this.reject(
              socket,
              req,
              new HandshakeError('WS_ERR_NOT_FOUND', 404, `no WebSocket endpoint at ${pathOf(req.url)}`),
            );
            return;
          }
          this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
        },
      });
      this.standalone = listener;
      this.http = null;
      listener.server.on('listening', () => this.emit('listening'));
      listener.server.on('error', (error) => this.emitError(error));
      listener.server.listen(options.port, options.host);
    } else {
      this.standalone = null;
      this.http = options.server ?? null;
    }
    if (this.http !== null) attach(this.http, { path: options.path, server: this });
    const interval = options.heartbeatInterval ?? 0;
    if (interval > 0) {
      this.heartbeat = setInterval(() => this.beat(), interval);
      this.heartbeat.unref();
    }
  }

  /** The address of the standalone or attached server. */
  address(): ReturnType<HttpServer['address']> {
    return (this.standalone?.server ?? this.http)?.address() ?? null;
  }

  /**
   * Complete an upgrade the caller received. On success `cb` gets the open connection; on refusal the
   * socket is answered with the right status and closed, and 'handshakeError' is emitted.
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (socket: WebSocketConnection, req: IncomingMessage) => void,
  ): void {
    const admitted = this.options.admit?.(req);
    if (admitted instanceof HandshakeError) {
      socket.on('error', () => socket.destroy());
      refuse(socket, admitted);
      return;
    }
    if (admitted === undefined) {
      void this.upgrade(req, socket, head, cb);
      return;
    }
    // Over once the upgrade settles, or once its socket closes (a handshake timed out while an
    // application hook never answers keeps upgrade() pending, not its place in flight).
    socket.once('close', admitted);
    this.upgrade(req, socket, head, cb).then(admitted, admitted);
  }

  private async upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (socket: WebSocketConnection, req: IncomingMessage) => void,
  ): Promise<void> {
    // Until the connection object exists, a socket error must not become an uncaught exception.
    const onEarlyError = () => socket.destroy();
    socket.on('error', onEarlyError);
    // Hold any bytes that follow the request until the connection is ready for them.
    socket.pause();
    const timeout = this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.reject(socket, req, new HandshakeError('WS_ERR_HANDSHAKE_TIMEOUT', 408, 'handshake timed out'));
    }, timeout);
    timer.unref();
    try {
      if (this.closing !== null) {
        throw new HandshakeError('WS_ERR_REFUSED', 503, 'server is shutting down');
      }
      // Node's parser takes two Host fields, or a body on an upgrade, without a word: not here.
      const invalid = fieldLinesError(req.rawHeaders, {
        requireHost: req.httpVersion !== '1.0',
        upgrade: true,
      });
      if (invalid !== null) throw new HandshakeError('WS_ERR_BAD_REQUEST', invalid.status, invalid.message);
      const request = validateClientRequest({
        method: req.method ?? '',
        httpVersion: req.httpVersion,
        headers: req.headers,
      });
      const decided = await this.decide(request, req, () => timedOut);
      if (decided === null) return;
      const { protocol, extensions, deflate } = decided;
      if (socket.destroyed || !socket.writable) return; // the client left while we were deciding
      clearTimeout(timer);
      socket.write(buildAcceptResponse({ key: request.key, protocol, extensions }));
      socket.off('error', onEarlyError);
      const setNoDelay = (socket as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay;
      if (typeof setNoDelay === 'function') setNoDelay.call(socket, true);
      this.open(socket, { protocol, extensions, deflate }, req, head, cb);
    } catch (error) {
      if (timedOut) return;
      this.reject(socket, req, asRefusal(error));
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * What every WebSocket handshake decides, whichever HTTP carried it: origin, authentication, the
   * subprotocol and permessage-deflate. Throws a HandshakeError to refuse; null once timed out.
   */
  private async decide(
    request: ClientRequest,
    req: IncomingMessage,
    timedOut: () => boolean,
  ): Promise<Decision | null> {
    const origins = this.options.origins;
    if (origins !== undefined) {
      const allowed =
        typeof origins === 'function'
          ? origins(request.origin, req)
          : request.origin !== undefined && origins.includes(request.origin);
      if (!allowed) {
        throw new HandshakeError(
          'WS_ERR_FORBIDDEN_ORIGIN',
          403,
          `origin not allowed: ${request.origin ?? '(none)'}`,
        );
      }
    }
    if (this.options.authenticate !== undefined) {
      let verdict: AuthResult;
      try {
        verdict = await this.options.authenticate(req);
      } catch {
        throw new HandshakeError('WS_ERR_REFUSED', 500, 'authentication failed');
      }
      if (timedOut()) return null;
      if (this.closing !== null) throw new HandshakeError('WS_ERR_REFUSED', 503, 'server is shutting down');
      if (verdict === false) throw new HandshakeError('WS_ERR_REFUSED', 401, 'unauthorized');
      if (typeof verdict === 'object' && verdict !== null) {
        throw new HandshakeError(
          'WS_ERR_REFUSED',
          verdict.status,
          verdict.message ?? 'refused',
          verdict.headers ?? {},
        );
      }
    }
    let protocol: string | undefined;
    if (request.protocols.length > 0) {
      const chosen = this.options.handleProtocols
        ? this.options.handleProtocols(request.protocols, req)
        : request.protocols[0]!;
      if (chosen !== false) {
        if (!request.protocols.includes(chosen)) {
          throw new HandshakeError(
            'WS_ERR_BAD_PROTOCOL',
            500,
            'handleProtocols chose a subprotocol that was not offered',
          );
        }
        protocol = chosen;
      }
    }
    let extensions = '';
    let deflate: DeflateCodec | null = null;
    if (this.deflateOptions !== null && request.extensions.length > 0) {
      // Section 7.1 of RFC 7692: the first offer we can honour; none is fine too (no compression).
      const agreed = this.intern(negotiateAsServer(request.extensions, this.deflateConfig));
      if (agreed !== null) {
        extensions = agreed.response;
        deflate = new DeflateCodec(
          agreed.agreement,
          'server',
          this.deflateOptions,
          this.options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
        );
      }
    }
    return { protocol, extensions, deflate };
  }

  /**
   * Send one message to every open client (or those `filter` accepts): framed once, compressed once
   * per set of shared-mode parameters, the same bytes written to every socket. Writes are corked
   * until the next tick, so several broadcasts in a row leave in one system call per client.
   * Returns how many clients it was sent to. For slow clients, check `bufferedAmount` in `filter`.
   */
  broadcast(
    data: WebSocketData | PreparedMessage,
    options?: { binary?: boolean; compress?: boolean; filter?: (client: WebSocketConnection) => boolean },
  ): number {
    const message = data instanceof PreparedMessage ? data : new PreparedMessage(data, options);
    const filter = options?.filter;
    const sendOptions = options?.compress === false ? { compress: false } : undefined;
    let sent = 0;
    for (const client of this.clients) {
      if (client.readyState !== WebSocketConnection.OPEN) continue;
      if (filter !== undefined && !filter(client)) continue;
      if (!this.corked.has(client)) {
        client.cork();
        this.corked.add(client);
        if (this.corked.size === 1) process.nextTick(this.uncorkAll);
      }
      client.send(message, sendOptions);
      sent++;
    }
    return sent;
  }

  private readonly corked = new Set<WebSocketConnection>();
  private readonly agreements = new Map<string, NegotiatedDeflate>();

  private readonly uncorkAll = (): void => {
    for (const client of this.corked) client.uncork();
    this.corked.clear();
  };

  /**
   * Add to `clients` until closed. A method of its own so that the listener's closure holds only the
   * connection, not the handshake's request, socket and head (which a closure created inside
   * `upgrade` would keep alive for the connection's lifetime).
   */
  private track(ws: WebSocketConnection): void {
    this.clients.add(ws);
    ws.trackIn(this.clients);
  }

  /**
   * One agreement object and one response string for every connection that negotiated the same
   * parameters (in practice every connection shares one): idle sockets do not each hold a copy.
   */
  private intern(agreed: NegotiatedDeflate | null): NegotiatedDeflate | null {
    if (agreed === null) return null;
    const known = this.agreements.get(agreed.response);
    if (known !== undefined) return known;
    if (this.agreements.size < MAX_INTERNED_AGREEMENTS) this.agreements.set(agreed.response, agreed);
    return agreed;
  }

  /** The handshake succeeded and its response is out: the connection, handed to `cb`, then reading. */
  private open(
    transport: Duplex,
    decided: Decision,
    req: IncomingMessage,
    head: Buffer,
    cb: (socket: WebSocketConnection, req: IncomingMessage) => void,
  ): void {
    const ws = new WebSocketConnection(transport, {
      role: 'server',
      protocol: decided.protocol,
      extensions: decided.extensions,
      deflate: decided.deflate,
      maxPayload: this.options.maxPayload,
      maxFragments: this.options.maxFragments,
      budget: this.receiveBudget,
      closeTimeout: this.options.closeTimeout,
      highWaterMark: this.options.highWaterMark,
      pauseOnBackpressure: this.options.pauseOnBackpressure ?? true,
      head,
      url: req.url,
    });
    if (this.options.clientTracking !== false) this.track(ws);
    try {
      cb(ws, req);
    } catch (error) {
      // The application's own handler threw: not the peer's fault, and the response is already out,
      // so drop this connection and report the error as a synchronous listener's throw would be.
      ws.terminate();
      this.emitError(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    ws.start();
  }

  /**
   * RFC 8441: complete a WebSocket requested by an extended CONNECT on an HTTP/2 stream (the 'connect'
   * event of an HTTP/2 server's compatibility API; servers passed as `server` are handled already).
   * The same handlers, origins, authentication, subprotocols, extensions and limits apply as for an
   * HTTP/1.1 upgrade; `req` is the HTTP/2 request (with `headers`, `url`, `method`, `socket`).
   */
  handleHttp2(
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    cb: (socket: WebSocketConnection, req: IncomingMessage) => void,
  ): void {
    void this.connectHttp2(req, res.stream, cb);
  }

  private async connectHttp2(
    req: Http2ServerRequest,
    stream: ServerHttp2Stream,
    cb: (socket: WebSocketConnection, req: IncomingMessage) => void,
  ): Promise<void> {
    const asMessage = req as unknown as IncomingMessage;
    const onEarlyError = () => stream.destroy();
    stream.on('error', onEarlyError);
    stream.pause();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.rejectStream(
        stream,
        asMessage,
        new HandshakeError('WS_ERR_HANDSHAKE_TIMEOUT', 408, 'handshake timed out'),
      );
    }, this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT);
    timer.unref();
    try {
      if (this.closing !== null) throw new HandshakeError('WS_ERR_REFUSED', 503, 'server is shutting down');
      const request = validateExtendedConnect({ method: req.method, headers: req.headers });
      const decided = await this.decide(request, asMessage, () => timedOut);
      if (decided === null || stream.destroyed || stream.closed) return;
      clearTimeout(timer);
      const headers: Record<string, string | number> = { ':status': 200 };
      if (decided.protocol !== undefined) headers['sec-websocket-protocol'] = decided.protocol;
      if (decided.extensions !== '') headers['sec-websocket-extensions'] = decided.extensions;
      stream.respond(headers);
      stream.off('error', onEarlyError);
      this.open(stream, decided, asMessage, EMPTY_HEAD, cb);
    } catch (error) {
      if (timedOut) return;
      this.rejectStream(stream, asMessage, asRefusal(error));
    } finally {
      clearTimeout(timer);
    }
  }

  /** Refuse on the stream only: the HTTP/2 connection and its other streams live on. */
  private rejectStream(stream: ServerHttp2Stream, req: IncomingMessage, error: HandshakeError): void {
    refuseStream(stream, error);
    if (this.listenerCount('handshakeError') > 0) this.emit('handshakeError', error, req);
  }

  private reject(socket: Duplex, req: IncomingMessage, error: HandshakeError): void {
    refuse(socket, error);
    if (this.listenerCount('handshakeError') > 0) this.emit('handshakeError', error, req);
  }

  private beat(): void {
    for (const client of this.clients) {
      if (!client.isAlive) {
        client.terminate();
        continue;
      }
      client.isAlive = false;
      client.ping();
    }
  }

  private emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else
      queueMicrotask(() => {
        throw error;
      });
  }

  /**
   * Stop accepting, close every connection with 1001 (going away), and resolve once all are closed
   * (connections that do not finish the closing handshake are destroyed after closeTimeout).
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      if (this.heartbeat !== null) clearInterval(this.heartbeat);
      if (this.http !== null) detach(this.http, this);
      const pending = [...this.clients].map(
        (client) =>
          new Promise<void>((resolve) => {
            if (client.readyState === WebSocketConnection.CLOSED) return resolve();
            client.once('close', () => resolve());
            client.close(1001, 'server shutting down');
          }),
      );
      const stopListening = this.standalone?.stopAccepting() ?? Promise.resolve();
      await Promise.all([...pending, stopListening]);
      this.emit('close');
    })();
    return this.closing;
  }
}

/** What a failed handshake decision answers: its own refusal, or 500 for anything unexpected. */
function asRefusal(error: unknown): HandshakeError {
  return error instanceof HandshakeError
    ? error
    : new HandshakeError('WS_ERR_REFUSED', 500, 'internal error during handshake');
}
