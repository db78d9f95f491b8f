/**
 * One Server-Sent Events response, over Node's `http` (HTTP/1.1) or `http2` compatibility API: the
 * headers, the retry hint, keepalive comments, events encoded by the sans-I/O encoder, a bounded
 * backlog with a stated policy, and the client's disconnect.
 *
 *   const stream = new SseStream(req, res, { keepAliveMs: 15_000 });
 *   stream.send({ event: 'tick', id: '1', data: JSON.stringify({ price: 101.25 }) });
 *   stream.on('close', () => ...);
 *
 * Backlog: what the socket has not taken yet counts in `bufferedAmount`. Past `maxBufferedBytes` the
 * policy applies: 'close' (the default) ends the response, so the client reconnects with its
 * Last-Event-ID and a server with a replay buffer sends it exactly what it missed; 'drop' skips the
 * event (counted in `dropped`) and keeps the stream.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  Http2ServerRequest,
  Http2ServerResponse,
  IncomingHttpHeaders,
  ServerHttp2Stream,
} from 'node:http2';
import { encodeComment, encodeEvent, encodeRetry, type SseMessage } from '../../protocol/sse/encoder.js';

export type SseRequest = IncomingMessage | Http2ServerRequest;
export type SseResponse = ServerResponse | Http2ServerResponse;

/** What SseStream needs of a response: http's, http2's compatibility one, or an HTTP/2 stream. */
interface Sink {
  readonly writableLength: number;
  start(headers: Record<string, string>): void;
  write(chunk: string | Uint8Array): void;
  end(): void;
  destroy(): void;
  on(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

function responseSink(res: SseResponse): Sink {
  const r = res as ServerResponse;
  return {
    get writableLength() {
      return r.writableLength;
    },
    start: (headers) => r.writeHead(200, headers),
    write: (chunk) => r.write(chunk),
    end: () => r.end(),
    destroy: () => r.destroy(),
    on: (event, listener) => r.on(event, listener),
    off: (event, listener) => r.off(event, listener),
  };
}

function http2StreamSink(stream: ServerHttp2Stream): Sink {
  return {
    get writableLength() {
      return stream.writableLength;
    },
    start: (headers) => stream.respond({ ':status': 200, ...headers }),
    write: (chunk) => stream.write(chunk),
    end: () => stream.end(),
    destroy: () => stream.destroy(),
    on: (event, listener) => stream.on(event, listener),
    off: (event, listener) => stream.off(event, listener),
  };
}

export interface SseStreamOptions {
  /** A comment is sent after this many ms without output (below common proxy idle limits). Default 15 s; 0: never. */
  keepAliveMs?: number;
  /** Sent first as `retry:`: how long the client waits before reconnecting, ms. Default: not sent. */
  retryMs?: number;
  /** Largest backlog, bytes, before `slowPolicy` applies. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** What to do with a client whose backlog passed `maxBufferedBytes`. Default 'close'. */
  slowPolicy?: 'close' | 'drop';
  /** `Access-Control-Allow-Origin` to send (for example '*' or one origin). Default: none. */
  allowOrigin?: string;
  /** More response headers. */
  headers?: Record<string, string>;
}

export type SseStreamEvents = {
  /** The response ended: the client went away, `close()` was called, or the slow policy closed it. */
  close: [];
  /** The backlog passed `maxBufferedBytes`; with 'close' the stream closes right after. */
  slow: [bufferedAmount: number];
};

const DEFAULT_KEEPALIVE_MS = 15_000;
const DEFAULT_MAX_BUFFERED = 1024 * 1024;

export class SseStream extends EventEmitter<SseStreamEvents> {
  /** The id the client last saw: its Last-Event-ID header, or a `lastEventId` query parameter. */
  readonly lastEventId: string | null;
  /** Events skipped by the 'drop' policy. */
  dropped = 0;
  private readonly res: Sink;
  private readonly maxBuffered: number;
  private readonly slowPolicy: 'close' | 'drop';
  private readonly keepAliveMs: number;
  private keepAlive: NodeJS.Timeout | null = null;
  private ended = false;

  /**
   * An SSE response on http's or http2's compatibility API. For http2's core API (a 'stream' event),
   * use `SseStream.fromHttp2Stream`.
   */
  constructor(req: SseRequest, res: SseResponse, options?: SseStreamOptions);
  /** @internal */
  constructor(req: RequestLike, res: Sink, options: SseStreamOptions, sink: true);
  constructor(req: RequestLike, res: SseResponse | Sink, options: SseStreamOptions = {}, sink = false) {
    super();
    this.res = sink ? (res as Sink) : responseSink(res as SseResponse);
    this.maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    this.slowPolicy = options.slowPolicy ?? 'close';
    this.keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEPALIVE_MS;
    this.lastEventId = lastEventIdOf(req);
    const headers: Record<string, string> = {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      ...options.headers,
    };
    // HTTP/2 forbids connection-specific headers (RFC 9113 section 8.2.2).
    if (req.httpVersionMajor < 2) headers.connection = 'keep-alive';
    if (options.allowOrigin !== undefined) headers['access-control-allow-origin'] = options.allowOrigin;
    this.res.on('close', this.onClose);
    this.res.start(headers);
    // The headers go now, not with the first event: the client's onopen fires at once.
    this.write(options.retryMs === undefined ? encodeComment() : encodeRetry(options.retryMs));
    this.armKeepAlive();
  }

  /**
   * An SSE response on an HTTP/2 stream of the core API:
   * `server.on('stream', (stream, headers) => SseStream.fromHttp2Stream(stream, headers))`.
   */
  static fromHttp2Stream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    options: SseStreamOptions = {},
  ): SseStream {
    const req: RequestLike = { httpVersionMajor: 2, headers, url: String(headers[':path'] ?? '') };
    return new SseStream(req, http2StreamSink(stream), options, true);
  }

  /** Whether the response has ended. */
  get closed(): boolean {
    return this.ended;
  }

  /** Bytes written and not yet taken by the socket. */
  get bufferedAmount(): number {
    return this.res.writableLength;
  }

  /**
   * Send one event. Returns false when it was not sent: the stream is closed, or the backlog is over
   * the limit (then the slow policy applied).
   */
  send(message: SseMessage): boolean {
    if (this.ended) return false;
    return this.writeChecked(encodeEvent(message));
  }

  /**
   * Send what `encodeEvent` produced, as text or UTF-8 bytes: one event, or several joined (`events`
   * says how many, for the count of `dropped`). Encode once, send to many. Same result and policy as
   * `send`.
   */
  sendEncoded(encoded: string | Uint8Array, events = 1): boolean {
    if (this.ended) return false;
    return this.writeChecked(encoded, events);
  }

  /** Send a comment (readers ignore it). */
  comment(text = ''): boolean {
    if (this.ended) return false;
    return this.writeChecked(encodeComment(text), 0);
  }

  /** End the response. */
  close(): void {
    if (this.ended) return;
    this.res.end();
    this.finish();
  }

  private writeChecked(chunk: string | Uint8Array, events = 1): boolean {
    if (this.res.writableLength > this.maxBuffered) {
      this.emit('slow', this.res.writableLength);
      if (this.slowPolicy === 'drop') {
        this.dropped += events;
        return false;
      }
      // The client reconnects with its Last-Event-ID; nothing is sent out of order.
      this.res.destroy();
      this.finish();
      return false;
    }
    this.write(chunk);
    this.armKeepAlive();
    return true;
  }

  private write(chunk: string | Uint8Array): void {
    this.res.write(chunk);
  }

  private armKeepAlive(): void {
    if (this.keepAliveMs <= 0 || this.ended) return;
    if (this.keepAlive === null) {
      this.keepAlive = setTimeout(this.onKeepAlive, this.keepAliveMs);
      this.keepAlive.unref();
    } else {
      this.keepAlive.refresh();
    }
  }

  private readonly onKeepAlive = (): void => {
    if (this.ended) return;
    this.comment();
  };

  private readonly onClose = (): void => {
    this.finish();
  };

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.keepAlive !== null) clearTimeout(this.keepAlive);
    this.keepAlive = null;
    this.res.off('close', this.onClose);
    this.emit('close');
  }
}

/** The request fields SseStream reads. */
interface RequestLike {
  readonly httpVersionMajor: number;
  readonly headers: IncomingHttpHeaders;
  readonly url?: string;
}

function lastEventIdOf(req: RequestLike): string | null {
  const header = req.headers['last-event-id'];
  if (typeof header === 'string') return header;
  const url = req.url ?? '';
  const query = url.indexOf('?');
  if (query < 0) return null;
  return new URLSearchParams(url.slice(query + 1)).get('lastEventId');
}
