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
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { type RequestOptions as HttpsRequestOptions, request as httpsRequest } from 'node:https';
import { EventStreamParser } from '../protocol/sse/parser.js';
import { ErrorEvent } from './events.js';

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
}

type Handler<E extends Event> = ((this: EventSource, ev: E) => unknown) | null;

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
  #request: ClientRequest | null = null;
  #response: IncomingMessage | null = null;
  #timer: NodeJS.Timeout | null = null;
  #handlers = new Map<string, EventListener>();

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
    return this.#getHandler('open') as Handler<Event>;
  }
  set onopen(fn: Handler<Event>) {
    this.#setHandler('open', fn as Handler<Event>);
  }
  get onmessage(): Handler<MessageEvent> {
    return this.#getHandler('message') as Handler<MessageEvent>;
  }
  set onmessage(fn: Handler<MessageEvent>) {
    this.#setHandler('message', fn as Handler<Event>);
  }
  get onerror(): Handler<Event> {
    return this.#getHandler('error') as Handler<Event>;
  }
  set onerror(fn: Handler<Event>) {
    this.#setHandler('error', fn as Handler<Event>);
  }

  #getHandler(type: string): Handler<Event> {
    const wrapper = this.#handlers.get(type) as (EventListener & { handler?: Handler<Event> }) | undefined;
    return wrapper?.handler ?? null;
  }

  #setHandler(type: string, fn: Handler<Event>): void {
    const previous = this.#handlers.get(type);
    if (previous !== undefined) {
      this.removeEventListener(type, previous);
      this.#handlers.delete(type);
    }
    if (typeof fn !== 'function') return;
    const wrapper = Object.assign((event: Event) => fn.call(this, event), { handler: fn });
    this.#handlers.set(type, wrapper);
    this.addEventListener(type, wrapper);
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
    const method = this.#init.method ?? 'GET';
    const body = this.#init.body;
    const options = { method, headers, ...(target.protocol === 'https:' ? this.#init.tls : {}) };
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, options);
    this.#request = req;
    req.on('response', (res) => this.#onResponse(req, res, target, redirects));
    req.on('error', (error) => {
      if (req !== this.#request) return;
      this.#reestablish(error);
    });
    req.end(body);
  }

  #onResponse(req: ClientRequest, res: IncomingMessage, target: URL, redirects: number): void {
    if (req !== this.#request || this.#readyState === CLOSED) {
      res.destroy();
      return;
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
      res.resume();
      if (redirects >= MAX_REDIRECTS) {
        this.#fail(new Error('too many redirects'));
        return;
      }
      this.#connect(new URL(location, target).href, redirects + 1);
      return;
    }
    const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
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
  }
}

function errorEvent(error: unknown): ErrorEvent {
  return new ErrorEvent('error', {
    message: error instanceof Error ? error.message : String(error),
    error,
  });
}
