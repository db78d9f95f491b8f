/**
 * The HTTP server's own limits for `conduit serve`: how long a client may take over a request head or
 * a whole request, how long an idle keep-alive connection stays, how many header fields a request may
 * carry, and how many connections the process holds before the open-file limit would reset new ones
 * silently. Node's defaults are built for trusted peers (a head may take 60 s, a request 300 s,
 * checked every 30 s; at the open-file limit libuv accepts and closes new connections without a
 * word): these bound what one peer can hold to seconds, and say so in the log when the limit is met.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { Logger } from 'pino';
import { MAX_HEADER_FIELDS } from '../protocol/http1/request-head.js';
import { DEFAULT_BODY_TIMEOUT_MS } from './http-body.js';

export interface HttpLimitsOptions {
  /**
   * Milliseconds a client has to send a complete request head, counted from the connection (or, on a
   * keep-alive connection, from the request's first byte); past it, 408 and the connection closes.
   * Default 10 s (Node: 60 s): a browser sends its head in one packet; a slowloris peer dribbling
   * bytes holds its socket 10 s. WebSocket upgrade requests are heads like any other.
   */
  headersTimeoutMs?: number;
  /**
   * Milliseconds a client has to send a whole request, head and body; past it, 408 and closed.
   * Default 30 s (Node: 300 s): a backstop behind `bodyTimeoutMs` for bodies no route reads (a POST
   * to a page, whose body Node reads and throws away). Long-lived responses (SSE, long-polls) are not
   * concerned: their request is complete at once. At least `headersTimeoutMs`.
   */
  requestTimeoutMs?: number;
  /**
   * Milliseconds a request body has to arrive in full once the route reads it (POST /publish,
   * POST /hub/send); past it, 408 and closed. Default 10 s (DEFAULT_BODY_TIMEOUT_MS, see there).
   */
  bodyTimeoutMs?: number;
  /**
   * Milliseconds an idle keep-alive connection waits for its next request before it is closed.
   * Default 5 s (Node's default for http; an HTTPS server, with HTTP/2, has none for its HTTP/1.1
   * connections and kept idle ones for ever).
   */
  keepAliveTimeoutMs?: number;
  /**
   * How often the two timeouts above are checked, ms: they are met within this much. Default 1 s
   * (Node: 30 s, which made a 10 s limit up to 40 s). Each check walks the connections that are
   * in the middle of a request only.
   */
  timeoutCheckIntervalMs?: number;
  /**
   * HTTPS: milliseconds a client has to complete the TLS handshake. Default 10 s (Node: 120 s). An
   * option of the TLS server's constructor (`handshakeTimeout`), not of applyHttpLimits.
   */
  tlsHandshakeTimeoutMs?: number;
  /**
   * TCP connections held at once (HTTP, WebSocket, SSE alike); past it a new one is closed as it is
   * accepted, and the log says so (once per `refusalLogIntervalMs`, with the count). Default, on
   * Linux: the open-file limit (`ulimit -n`) less the descriptors open at startup and FD_HEADROOM
   * for the rest (Redis reconnects, DNS, fetches): the limit is met by a counted refusal instead of
   * an EMFILE that libuv answers by resetting the client silently. Elsewhere, or 0: no limit.
   */
  maxConnections?: number;
  /** At most one log line per this many ms about refused connections, with their count. Default 10 s. */
  refusalLogIntervalMs?: number;
}

/** The limits in force, every default filled in. */
export interface HttpLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly timeoutCheckIntervalMs: number;
  readonly tlsHandshakeTimeoutMs: number;
  /** 0: no limit. */
  readonly maxConnections: number;
  readonly refusalLogIntervalMs: number;
  /** The soft open-file limit the default `maxConnections` came from, when known. */
  readonly openFileLimit: number | null;
}

/** Descriptors kept free under the open-file limit for what the process opens besides clients. */
export const FD_HEADROOM = 32;

/** Fill in the defaults and check the options; throws a RangeError for an impossible combination. */
export function resolveHttpLimits(options: HttpLimitsOptions = {}): HttpLimits {
  const files = openFiles();
  const limits: HttpLimits = {
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 5_000,
    timeoutCheckIntervalMs: options.timeoutCheckIntervalMs ?? 1_000,
    tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? 10_000,
    maxConnections:
      options.maxConnections ?? (files === null ? 0 : Math.max(1, files.limit - files.open - FD_HEADROOM)),
    refusalLogIntervalMs: options.refusalLogIntervalMs ?? 10_000,
    openFileLimit: files?.limit ?? null,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (value !== null && (!Number.isInteger(value) || value < 0)) {
      throw new RangeError(`http.${name} must be a non-negative integer, got ${value}`);
    }
  }
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError('http.headersTimeoutMs cannot be longer than http.requestTimeoutMs');
  }
  if (limits.timeoutCheckIntervalMs === 0) throw new RangeError('http.timeoutCheckIntervalMs must be > 0');
  return limits;
}

/**
 * Set the limits on a server that is not listening yet (the timeout checks start with 'listening');
 * a TLS server takes `tlsHandshakeTimeoutMs` in its constructor's options (`handshakeTimeout`).
 * Returns what to call once it listens: from then on, refused connections and accept errors are
 * logged (throttled) instead of crashing the process, as an 'error' with no listener would.
 */
export function applyHttpLimits(
  server: Server | Http2SecureServer,
  limits: HttpLimits,
  logger: Logger | undefined,
): { listening(): void; close(): void } {
  const http = server as Server;
  http.headersTimeout = limits.headersTimeoutMs;
  http.requestTimeout = limits.requestTimeoutMs;
  http.keepAliveTimeout = limits.keepAliveTimeoutMs;
  (http as { connectionsCheckingInterval?: number }).connectionsCheckingInterval =
    limits.timeoutCheckIntervalMs;
  // One more than the limit, so that the route sees a request that went past it (Node drops the rest).
  http.maxHeadersCount = MAX_HEADER_FIELDS + 1;
  if (limits.maxConnections > 0) http.maxConnections = limits.maxConnections;
  const refusals = new ThrottledCount(limits.refusalLogIntervalMs, (count, first) => {
    logger?.warn(
      {
        refused: count,
        maxConnections: limits.maxConnections,
        openFileLimit: limits.openFileLimit,
        ...(first ? {} : { intervalMs: limits.refusalLogIntervalMs }),
      },
      first
        ? 'connection limit reached: new connections are closed as they arrive'
        : 'connection limit reached: new connections closed in the last interval',
    );
  });
  const onDrop = () => refusals.add();
  const onError = (error: NodeJS.ErrnoException) => {
    // libuv answers EMFILE itself (it closes the new connection and reports nothing) unless its spare
    // descriptor is gone too; then Node emits the error here, and without a listener it would throw.
    if (error.code === 'EMFILE' || error.code === 'ENFILE') refusals.add();
    else logger?.error({ err: error }, 'listener error');
  };
  server.on('drop', onDrop);
  return {
    listening: () => {
      server.on('error', onError);
    },
    close: () => {
      refusals.close();
      server.off('drop', onDrop);
    },
  };
}

/**
 * Counts events and reports them at most once per interval: the first at once (count 1), then, while
 * they go on, the number that came in each interval at its end. Quiet intervals report nothing and end
 * the run, so the next event is reported at once again.
 */
export class ThrottledCount {
  private pending = 0;
  private window: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly report: (count: number, first: boolean) => void,
  ) {}

  add(): void {
    if (this.window !== null) {
      this.pending++;
      return;
    }
    this.report(1, true);
    this.open();
  }

  /** Report what is pending now and stop. */
  close(): void {
    if (this.window !== null) clearTimeout(this.window);
    this.window = null;
    if (this.pending > 0) this.report(this.pending, false);
    this.pending = 0;
  }

  private open(): void {
    this.window = setTimeout(() => {
      this.window = null;
      if (this.pending === 0) return;
      const count = this.pending;
      this.pending = 0;
      this.report(count, false);
      this.open();
    }, this.intervalMs);
    this.window.unref();
  }
}

/** The soft open-file limit and the descriptors open now (Linux's /proc), or null where unknown. */
export function openFiles(): { limit: number; open: number } | null {
  try {
    const match = /^Max open files\s+(\d+)\s/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (match === null) return null;
    // Less the descriptor readdir itself opened on the directory.
    return { limit: Number(match[1]), open: readdirSync('/proc/self/fd').length - 1 };
  } catch {
    return null;
  }
}
