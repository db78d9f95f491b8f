/**
 * The WHATWG `EventSource` interface for Node (HTML, "Server-sent events"), on EventTarget, reading
 * the stream with the sans-I/O parser (src/protocol/sse/parser.ts).
 *
 * As the specification says: `open`, `message` and named events (MessageEvent with data, origin and
 * lastEventId), `error`; reconnection after the reconnection time (`retry:` sets it) with the last
 * event ID sent as Last-Event-ID; a response that is not 200 or not `text/event-stream` fails the
 * connection for good (readyState CLOSED, no reconnection); redirects followed (up to 20).
 *
 * Beyond the specification, as Node users ask: repeated failures back off exponentially with jitter
 * (up to `maxRetryMs`) instead of hammering a server that is down; extra request headers; another
 * method and a body (POST); TLS options for https: URLs; a starting `lastEventId`.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { type ClientHttp2Session, connect as http2Connect } from 'node:http2';
import { type RequestOptions as HttpsRequestOptions, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { EventStreamParser } from '../protocol/sse/parser.js';
import { SessionPool, sessionKey } from '../transports/http2-pool.js';
import { ErrorEvent } from './events.js';
import { type Handler as HandlerOf, HandlerSlots } from './handlers.js';

export interface EventSourceInit {
  withCredentials?: boolean;
}

export interface NodeEventSourceInit extends EventSourceInit {
  /** More request headers (Authorization, cookies...). */
  headers?: Record<string, string>;
  /** Request method. Default GET. */
  method?: string;
  /** Request body, sent on every (re)connection. */
  body?: string | Uint8Array;
  /** TLS options for https: URLs (ca, cert, key, rejectUnauthorized, servername...). */
  tls?: Pick<HttpsRequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
  /** The reconnection time until the server sets one with `retry:`. Default 3000 ms. */
  retryMs?: number;
  /** Longest wait between attempts when failures repeat. Default 30 s. */
  maxRetryMs?: number;
  /** The last event ID to send on the first connection. */
  lastEventId?: string;
  /**
   * HTTP/2. 'auto' (the default): for https: URLs, ALPN decides, and EventSources with the same
   * origin (and the same `tls` object) share one HTTP/2 connection. true: HTTP/2 always (h2c for
   * http: URLs). false: HTTP/1.1 always.
   */
  http2?: boolean | 'auto';
}

/** HTTP/2 sessions EventSources share, by origin and `tls` options object. */
const sessions = new SessionPool();

/**
 * ALPN negotiations in progress, by session key: EventSources created together wait for the first
 * one's answer instead of each opening a connection. They get the session, or null for HTTP/1.1.
 */
const negotiating = new Map<string, Array<(session: ClientHttp2Session | null) => void>>();
/** Session keys whose server chose HTTP/1.1: no more probing there. */
const http1Only = new Set<string>();

/** One request in flight, whichever protocol carries it. */
interface Attempt {
  destroy(): void;
}

type Handler<E extends Event> = HandlerOf<EventSource, E>;

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;
const MAX_REDIRECTS = 20;

export class EventSource extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSED = CLOSED;
  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSED = CLOSED;

  readonly url: string;
  readonly withCredentials: boolean;
  #readyState: 0 | 1 | 2 = CONNECTING;
  #init: NodeEventSourceInit;
  #reconnectionTime: number;
  #lastEventId: string;
  /** Consecutive attempts that did not reach an open stream. */
  #failures = 0;
  #request: Attempt | null = null;
  /** The HTTP/2 session this EventSource holds, if any. */
  #session: ClientHttp2Session | null = null;
  #response: Readable | null = null;
  #timer: NodeJS.Timeout | null = null;
  #handlers: HandlerSlots<EventSource> = new HandlerSlots<EventSource>(this);

  constructor(url: string | URL, init: NodeEventSourceInit = {}) {
    super();
    const parsed = new URL(String(url));
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new SyntaxError(`EventSource needs an http: or https: URL, not ${parsed.protocol}`);
    }
    this.url = parsed.href;
    this.withCredentials = init.withCredentials === true;
    this.#init = init;
    this.#reconnectionTime = init.retryMs ?? 3000;
    this.#lastEventId = init.lastEventId ?? '';
    // The first attempt starts after the constructor returns, so listeners can be attached.
    queueMicrotask(() => this.#connect(this.url, 0));
  }

  get readyState(): 0 | 1 | 2 {
    return this.#readyState;
  }

  /** Stop for good: no more events, no reconnection. */
  close(): void {
    this.#readyState = CLOSED;
    this.#stop();
  }

  // Event handler IDL attributes -------------------------------------------------------------------

  get onopen(): Handler<Event> {
    return this.#handlers.get('open') as Handler<Event>;
  }
  set onopen(fn: Handler<Event>) {
    this.#handlers.set('open', fn as Handler<Event>);
  }
  get onmessage(): Handler<MessageEvent> {
    return this.#handlers.get('message') as Handler<MessageEvent>;
  }
  set onmessage(fn: Handler<MessageEvent>) {
    this.#handlers.set('message', fn as Handler<Event>);
  }
  get onerror(): Handler<Event> {
    return this.#handlers.get('error') as Handler<Event>;
  }
  set onerror(fn: Handler<Event>) {
    this.#handlers.set('error', fn as Handler<Event>);
  }

  // The connection --------------------------------------------------------------------------------

  #connect(url: string, redirects: number): void {
    if (this.#readyState === CLOSED) return;
    const target = new URL(url);
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      'cache-control': 'no-cache',
      ...this.#init.headers,
    };
    if (this.#lastEventId !== '') headers['last-event-id'] = this.#lastEventId;
    const mode = this.#init.http2 ?? 'auto';
    const secure = target.protocol === 'https:';
    const key = sessionKey(target.origin, this.#init.tls);
    const shared = sessions.get(key);
    if (mode !== false && shared !== undefined) {
      this.#requestHttp2(shared, target, headers, redirects);
    } else if (mode === true) {
      const session = http2Connect(target.origin, secure ? { ...this.#init.tls } : {});
      session.on('error', () => undefined); // reported through the stream's own error
      this.#requestHttp2(sessions.add(key, session), target, headers, redirects);
    } else if (mode === 'auto' && secure && !http1Only.has(key)) {
      const waiters = negotiating.get(key);
      if (waiters === undefined) {
        negotiating.set(key, []);
        this.#negotiate(target, headers, redirects, key);
        return;
      }
      const attempt: Attempt = { destroy: () => undefined };
      this.#request = attempt;
      waiters.push((session) => {
        if (attempt !== this.#request) return;
        if (session !== null) this.#requestHttp2(session, target, headers, redirects);
        else this.#requestHttp1(target, headers, redirects);
      });
    } else {
      this.#requestHttp1(target, headers, redirects);
    }
  }

  /** TLS with ALPN offering h2 and http/1.1; the server's choice decides the protocol. */
  #negotiate(target: URL, headers: Record<string, string>, redirects: number, key: string): void {
    const host = target.hostname.replace(/^\[|\]$/g, '');
    const socket = tlsConnect({
      host,
      port: Number(target.port || 443),
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
      ALPNProtocols: ['h2', 'http/1.1'],
      ...this.#init.tls,
    });
    const attempt: Attempt = { destroy: () => socket.destroy() };
    this.#request = attempt;
    let answered = false;
    const answer = (session: ClientHttp2Session | null) => {
      if (answered) return;
      answered = true;
      const waiters = negotiating.get(key) ?? [];
      negotiating.delete(key);
      for (const waiter of waiters) waiter(session);
    };
    socket.once('error', (error) => {
      answer(null);
      if (attempt === this.#request) this.#reestablish(error);
    });
    // Destroyed before the handshake (this EventSource closed): the waiters must not wait forever.
    socket.once('close', () => answer(null));
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol === 'h2') {
        const session = sessions.add(key, http2Connect(target.origin, { createConnection: () => socket }));
        session.on('error', () => undefined);
        // Held by this EventSource (or, if it closed meanwhile, by the first waiter) before any
        // waiter runs, so the session cannot close under them.
        if (attempt === this.#request) this.#requestHttp2(session, target, headers, redirects);
        answer(session);
        if (!sessions.inUse(session)) session.close();
        return;
      }
      http1Only.add(key);
      answer(null);
      if (attempt === this.#request) this.#requestHttp1(target, headers, redirects, () => socket);
      else socket.destroy();
    });
  }

  #requestHttp1(
    target: URL,
    headers: Record<string, string>,
    redirects: number,
    createConnection?: () => Socket,
  ): void {
    const secure = target.protocol === 'https:';
    const options = {
      method: this.#init.method ?? 'GET',
      headers,
      ...(secure ? this.#init.tls : {}),
      ...(createConnection === undefined ? {} : { createConnection, agent: false }),
    };
    const req = (secure ? httpsRequest : httpRequest)(target, options);
    this.#request = req;
    req.on('response', (res) => {
      if (req !== this.#request) {
        res.destroy();
        return;
      }
      this.#onResponse(res.statusCode ?? 0, res.headers, res, target, redirects);
    });
    req.on('error', (error) => {
      if (req !== this.#request) return;
      this.#reestablish(error);
    });
    req.end(this.#init.body);
  }

  #requestHttp2(
    session: ClientHttp2Session,
    target: URL,
    headers: Record<string, string>,
    redirects: number,
  ): void {
    sessions.hold(session);
    const previous = this.#session; // a redirect: the new hold first, so a shared session stays open
    this.#session = session;
    if (previous !== null) sessions.release(previous);
    const stream = session.request({
      ':method': this.#init.method ?? 'GET',
      ':path': `${target.pathname}${target.search}`,
      ...headers,
    });
    this.#request = stream;
    stream.on('response', (h) => {
      if (stream !== this.#request) {
        stream.destroy();
        return;
      }
      this.#onResponse(Number(h[':status']), h as IncomingHttpHeaders, stream, target, redirects);
    });
    stream.on('error', (error) => {
      if (stream !== this.#request) return;
      this.#reestablish(error);
    });
    stream.end(this.#init.body);
  }

  #onResponse(
    status: number,
    responseHeaders: IncomingHttpHeaders,
    res: Readable,
    target: URL,
    redirects: number,
  ): void {
    if (this.#readyState === CLOSED) {
      res.destroy();
      return;
    }
    const location = responseHeaders.location;
    if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
      res.resume();
      if (redirects >= MAX_REDIRECTS) {
        this.#fail(new Error('too many redirects'));
        return;
      }
      this.#connect(new URL(location, target).href, redirects + 1);
      return;
    }
    const type = (responseHeaders['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (status !== 200 || type !== 'text/event-stream') {
      res.resume();
      this.#fail(
        new Error(
          status !== 200 ? `the server answered ${status}` : `the Content-Type is ${type || 'missing'}`,
        ),
      );
      return;
    }
    this.#response = res;
    this.#readyState = OPEN;
    this.#failures = 0;
    this.dispatchEvent(new Event('open'));
    const origin = target.origin;
    const parser = new EventStreamParser({ lastEventId: this.#lastEventId });
    res.on('data', (chunk: Buffer) => {
      if (res !== this.#response) return;
      let items: ReturnType<EventStreamParser['feed']>;
      try {
        items = parser.feed(chunk);
      } catch (error) {
        this.#reestablish(error);
        return;
      }
      for (const item of items) {
        if (res !== this.#response) return; // close() from a listener
        if (item.kind === 'retry') {
          this.#reconnectionTime = item.ms;
        } else if (item.kind === 'event') {
          this.#lastEventId = item.lastEventId;
          this.dispatchEvent(
            new MessageEvent(item.type, { data: item.data, origin, lastEventId: item.lastEventId }),
          );
        }
      }
      this.#lastEventId = parser.lastEventId;
    });
    const ended = () => {
      if (res !== this.#response) return;
      this.#reestablish(new Error('the event stream ended'));
    };
    res.on('end', ended);
    res.on('error', ended);
    res.on('close', ended);
  }

  /** The stream ended or could not be reached: announce, wait, reconnect. */
  #reestablish(error: unknown): void {
    if (this.#readyState === CLOSED) return;
    this.#stop();
    this.#readyState = CONNECTING;
    this.dispatchEvent(errorEvent(error));
    if (this.#readyState !== CONNECTING) return; // close() from an error listener
    this.#failures++;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect(this.url, 0);
    }, this.#delay());
  }

  /** The reconnection time; doubled for each further failure in a row, capped, with jitter. */
  #delay(): number {
    const base = this.#reconnectionTime;
    if (this.#failures <= 1) return base;
    const max = Math.max(base, this.#init.maxRetryMs ?? 30_000);
    const backoff = Math.min(max, base * 2 ** (this.#failures - 1));
    return backoff / 2 + Math.random() * (backoff / 2);
  }

  /** "Fail the connection": CLOSED, an error event, no reconnection. */
  #fail(error: Error): void {
    this.#stop();
    this.#readyState = CLOSED;
    this.dispatchEvent(errorEvent(error));
  }

  #stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const req = this.#request;
    const res = this.#response;
    this.#request = null;
    this.#response = null;
    res?.destroy();
    req?.destroy();
    const session = this.#session;
    this.#session = null;
    if (session !== null) sessions.release(session);
  }
}

function errorEvent(error: unknown): ErrorEvent {
  return new ErrorEvent('error', {
    message: error instanceof Error ? error.message : String(error),
    error,
  });
}
