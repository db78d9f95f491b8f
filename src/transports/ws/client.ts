/**
 * The client side of the opening handshake over HTTP/1.1 (RFC 6455 section 4.1), for Node: an
 * `http`/`https` GET with Upgrade, the server's answer validated by the sans-I/O core, then a
 * `WebSocketConnection` in the client role (every frame masked with a fresh crypto-random key).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import {
  checkDeflateOptions,
  clientDeflateConfig,
  DeflateCodec,
  type PerMessageDeflateOptions,
} from '../../pipeline/permessage-deflate.js';
import { HandshakeError } from '../../protocol/errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/ws/connection.js';
import { formatExtensions } from '../../protocol/ws/extensions.js';
import { buildClientRequest, validateServerResponse } from '../../protocol/ws/handshake.js';
import {
  acceptResponse,
  buildOffer,
  type DeflateAgreement,
  type DeflateNegotiationError,
  EXTENSION_NAME,
} from '../../protocol/ws/permessage-deflate.js';
import { connectOverHttp2, hasSession, wsSessionKey } from './client-http2.js';
import { WebSocketConnection } from './connection.js';
import { random16 } from './random.js';

export interface ClientOptions {
  /** Subprotocols to offer, in order of preference. */
  protocols?: readonly string[];
  /** Extra request headers (Authorization, Cookie...). */
  headers?: Readonly<Record<string, string>>;
  /** Origin header to send (browsers always send one; Node clients only when asked). */
  origin?: string;
  /** Milliseconds for the whole handshake. Default 30 s. */
  handshakeTimeout?: number;
  /** Largest message accepted, bytes. Default 16 MiB. */
  maxPayload?: number;
  /** Milliseconds to wait for the server to close TCP after the closing handshake. Default 30 s. */
  closeTimeout?: number;
  /** Outbound bytes above which 'drain' is reported once they drain. Default 1 MiB. */
  highWaterMark?: number;
  /**
   * Also stop reading while over `highWaterMark`. Default false for clients: a client that uploads
   * while the server echoes could otherwise deadlock with a server that pauses too.
   */
  pauseOnBackpressure?: boolean;
  /** TLS options for wss: (ca, cert, key, rejectUnauthorized, servername...). */
  tls?: TlsOptions;
  /** Emit 'frame' for every frame (inspection). */
  inspectFrames?: boolean;
  /** Abort the handshake. */
  signal?: AbortSignal;
  /**
   * Offer permessage-deflate (RFC 7692): true (the default, as browsers and ws do) offers
   * `permessage-deflate; client_max_window_bits` with context takeover (dedicated mode); false offers
   * nothing; options choose the mode, windows, level and threshold.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * WebSocket over HTTP/2 (RFC 8441). 'auto' (the default): on an HTTP/2 connection to the origin when
   * one is already open (another WebSocket opened it), else an HTTP/1.1 upgrade. true: open or share
   * an HTTP/2 connection, and fall back to HTTP/1.1 when the server does not advertise extended
   * CONNECT. false: HTTP/1.1 always.
   */
  http2?: boolean | 'auto';
}

/** Parse and check a WebSocket URL: ws, wss (and http, https mapped to them), no fragment. */
export function parseWebSocketUrl(input: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw new SyntaxError(`invalid URL: ${String(input)}`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new SyntaxError(`unsupported URL scheme ${url.protocol} (expected ws: or wss:)`);
  }
  if (url.hash !== '' || String(input).includes('#'))
    throw new SyntaxError('a WebSocket URL must not have a fragment');
  return url;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 30_000;

/** What both handshakes start from: the URL and the permessage-deflate offer (throws on bad input). */
interface Attempt {
  url: URL;
  deflateOptions: PerMessageDeflateOptions | null;
  deflateConfig: ReturnType<typeof clientDeflateConfig>;
}

function attemptOf(input: string | URL, options: ClientOptions): Attempt {
  const url = parseWebSocketUrl(input);
  const deflateOptions = deflateOptionsOf(options);
  return { url, deflateOptions, deflateConfig: clientDeflateConfig(deflateOptions ?? {}) };
}

/** Open a WebSocket connection; resolves once the server accepted the handshake. */
export function connect(input: string | URL, options: ClientOptions = {}): Promise<WebSocketConnection> {
  const mode = options.http2 ?? 'auto';
  if (mode === false) return connectHttp1(input, options);
  let attempt: Attempt;
  try {
    attempt = attemptOf(input, options);
  } catch (error) {
    return Promise.reject(error);
  }
  const { url, deflateOptions, deflateConfig } = attempt;
  const key = wsSessionKey(url, options.tls);
  if (mode === 'auto' && !hasSession(key)) return connectHttp1(input, options);
  const protocols = options.protocols ?? [];
  const headers: Record<string, string> = { 'sec-websocket-version': '13' };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    // HTTP/2 forbids connection-specific fields (RFC 9113 section 8.2.2); Host becomes :authority.
    const lower = name.toLowerCase();
    if (!HTTP1_ONLY_HEADERS.has(lower)) headers[lower] = value;
  }
  if (protocols.length > 0) headers['sec-websocket-protocol'] = protocols.join(', ');
  if (deflateOptions !== null) headers['sec-websocket-extensions'] = buildOffer(deflateConfig);
  if (options.origin !== undefined) headers.origin = options.origin;
  const deflate = deflateAcceptor(deflateOptions, deflateConfig);
  return connectOverHttp2({
    url,
    key,
    tls: options.tls,
    headers,
    protocols,
    acceptExtension: deflate.accept,
    agreement: deflate.agreement,
    deflateOptions,
    maxPayload: options.maxPayload,
    closeTimeout: options.closeTimeout,
    highWaterMark: options.highWaterMark,
    pauseOnBackpressure: options.pauseOnBackpressure,
    inspectFrames: options.inspectFrames,
    handshakeTimeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
    signal: options.signal,
  }).then((ws) => ws ?? connectHttp1(input, options));
}

const HTTP1_ONLY_HEADERS = new Set([
  'connection',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'host',
  'te',
]);

/** The client's permessage-deflate options (null: offer nothing), checked; throws a RangeError. */
function deflateOptionsOf(options: ClientOptions): PerMessageDeflateOptions | null {
  const pmd = options.perMessageDeflate ?? true;
  const deflateOptions = pmd === false ? null : pmd === true ? {} : pmd;
  if (deflateOptions !== null) checkDeflateOptions(deflateOptions);
  return deflateOptions;
}

/** permessage-deflate's side of the response check: only the offered extension, only once. */
function deflateAcceptor(
  deflateOptions: PerMessageDeflateOptions | null,
  deflateConfig: ReturnType<typeof clientDeflateConfig>,
): {
  accept: (ext: Parameters<typeof acceptResponse>[0]) => boolean;
  agreement: () => DeflateAgreement | null;
} {
  let agreement: DeflateAgreement | null = null;
  return {
    accept: (ext) => {
      if (deflateOptions === null || ext.name !== EXTENSION_NAME || agreement !== null) return false;
      try {
        agreement = acceptResponse(ext, deflateConfig);
        return true;
      } catch (error) {
        // RFC 7692 section 7.1: a response the client did not allow fails the connection.
        throw new HandshakeError(
          'WS_ERR_BAD_EXTENSIONS',
          101,
          `unacceptable permessage-deflate response: ${(error as DeflateNegotiationError).message}`,
        );
      }
    },
    agreement: () => agreement,
  };
}

/** The opening handshake over HTTP/1.1 (RFC 6455 section 4.1). */
function connectHttp1(input: string | URL, options: ClientOptions): Promise<WebSocketConnection> {
  let attempt: Attempt;
  try {
    attempt = attemptOf(input, options);
  } catch (error) {
    return Promise.reject(error);
  }
  const { url, deflateOptions, deflateConfig } = attempt;
  const protocols = options.protocols ?? [];
  const handshake = buildClientRequest({
    random16: random16(),
    protocols,
    origin: options.origin,
    extensions: deflateOptions === null ? undefined : buildOffer(deflateConfig),
  });
  const secure = url.protocol === 'wss:';
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const headers = { ...options.headers, ...handshake.headers };

  return new Promise<WebSocketConnection>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      reject(error);
    };
    const request = secure ? httpsRequest : httpRequest;
    const req = request({
      ...(secure ? options.tls : {}),
      host: hostname,
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      path: url.pathname + url.search,
      method: 'GET',
      headers,
      agent: false,
      // SNI carries host names only (RFC 6066 section 3), never IP addresses.
      servername: secure
        ? (options.tls?.servername ?? (isIP(hostname) === 0 ? hostname : undefined))
        : undefined,
    });
    const timer = setTimeout(
      () => fail(new HandshakeError('WS_ERR_HANDSHAKE_TIMEOUT', 0, 'opening handshake timed out')),
      options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
    );
    timer.unref();
    const onAbort = () => fail(new Error('the opening handshake was aborted'));
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (error) => fail(error));
    req.on('response', (res: IncomingMessage) => {
      res.resume();
      fail(
        new HandshakeError(
          'WS_ERR_BAD_STATUS',
          res.statusCode ?? 0,
          `unexpected server response: ${res.statusCode}`,
        ),
      );
    });
    req.on('upgrade', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (settled) {
        socket.destroy();
        return;
      }
      socket.pause();
      let negotiated: ReturnType<typeof validateServerResponse>;
      // Only the extension offered, and only once (RFC 6455 section 9.1).
      const deflate = deflateAcceptor(deflateOptions, deflateConfig);
      try {
        negotiated = validateServerResponse(
          { status: res.statusCode ?? 0, headers: res.headers },
          { key: handshake.key, protocols },
          deflate.accept,
        );
      } catch (error) {
        socket.destroy();
        return fail(error as Error);
      }
      const agreement = deflate.agreement();
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const setNoDelay = (socket as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay;
      if (typeof setNoDelay === 'function') setNoDelay.call(socket, true);
      const connection = new WebSocketConnection(socket, {
        role: 'client',
        protocol: negotiated.protocol,
        extensions: formatExtensions(negotiated.extensions),
        deflate:
          agreement === null || deflateOptions === null
            ? null
            : new DeflateCodec(
                agreement,
                'client',
                deflateOptions,
                options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
              ),
        maxPayload: options.maxPayload,
        closeTimeout: options.closeTimeout,
        highWaterMark: options.highWaterMark,
        pauseOnBackpressure: options.pauseOnBackpressure ?? false,
        inspectFrames: options.inspectFrames,
        head,
        url: url.href,
      });
      resolve(connection);
      // Start reading after the caller's continuation has attached its listeners.
      setImmediate(() => connection.start());
    });
    req.end();
  });
}
