/**
 * The WHATWG WebSocket interface for Node (https://websockets.spec.whatwg.org/), a thin layer over the
 * Node client adapter. Steps are numbered as in the standard's algorithms. Beyond the standard: a third
 * constructor argument with Node options (headers, TLS, timeouts, maxPayload) and the 'nodebuffer'
 * binaryType.
 */

import { type ClientOptions, connect, parseWebSocketUrl } from '../transports/ws/client.js';
import type { WebSocketConnection } from '../transports/ws/connection.js';
import { isToken } from '../util/tokens.js';
import { CloseEvent, ErrorEvent } from './events.js';
import { type Handler as HandlerOf, HandlerSlots } from './handlers.js';

export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

export type WebSocketOptions = Omit<ClientOptions, 'protocols' | 'signal' | 'inspectFrames'>;

type Handler<E extends Event> = HandlerOf<WebSocket, E>;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

export class WebSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSING = CLOSING;
  readonly CLOSED = CLOSED;

  readonly #url: URL;
  #readyState: 0 | 1 | 2 | 3 = CONNECTING;
  #protocol = '';
  #extensions = '';
  #binaryType: BinaryType = 'blob';
  #connection: WebSocketConnection | null = null;
  readonly #abort = new AbortController();
  /** Bytes of send() calls made after the closing handshake started (they are counted, not sent). */
  #unsentAfterClose = 0;
  /** Blobs being read, and sends queued behind them to keep order. */
  #queue: Array<Uint8Array | string | Blob> = [];
  #queuedBytes = 0;
  #draining = false;
  #handlers: HandlerSlots<WebSocket> = new HandlerSlots<WebSocket>(this);

  constructor(url: string | URL, protocols: string | readonly string[] = [], options: WebSocketOptions = {}) {
    super();
    // Steps 1-4: parse the URL; http(s) becomes ws(s); other schemes and fragments are a SyntaxError.
    try {
      this.#url = parseWebSocketUrl(url);
    } catch (error) {
      throw new DOMException((error as Error).message, 'SyntaxError');
    }
    // Step 5: a string is a one-element list.
    const list = typeof protocols === 'string' ? [protocols] : [...protocols];
    // Step 6: duplicates or values that are not tokens are a SyntaxError.
    const seen = new Set<string>();
    for (const p of list) {
      if (!isToken(p) || seen.has(p)) throw new DOMException(`invalid subprotocol: ${p}`, 'SyntaxError');
      seen.add(p);
    }
    // Step 7: establish the connection, in parallel.
    connect(this.#url, { ...options, protocols: list, signal: this.#abort.signal }).then(
      (connection) => this.#established(connection),
      (error: unknown) => this.#failedToEstablish(error),
    );
  }

  get url(): string {
    return this.#url.href;
  }
  get readyState(): 0 | 1 | 2 | 3 {
    return this.#readyState;
  }
  get protocol(): string {
    return this.#protocol;
  }
  get extensions(): string {
    return this.#extensions;
  }
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(value: BinaryType) {
    // An enumerated attribute: other values are ignored.
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.#binaryType = value;
  }

  /** Bytes queued by send() and not yet transmitted (including those counted after closing started). */
  get bufferedAmount(): number {
    return (this.#connection?.bufferedAmount ?? 0) + this.#queuedBytes + this.#unsentAfterClose;
  }

  /** The send(data) method steps. */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    // Step 1: CONNECTING throws InvalidStateError.
    if (this.#readyState === CONNECTING)
      throw new DOMException('WebSocket is still connecting', 'InvalidStateError');
    let item: Uint8Array | string | Blob;
    let size: number;
    if (typeof data === 'string') {
      item = data;
      size = Buffer.byteLength(data);
    } else if (data instanceof Blob) {
      item = data;
      size = data.size;
    } else if (ArrayBuffer.isView(data)) {
      // Copy now: the caller may change the buffer after send() returns.
      item = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      size = data.byteLength;
    } else if (
      data instanceof ArrayBuffer ||
      (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)
    ) {
      item = new Uint8Array(data.slice(0));
      size = data.byteLength;
    } else {
      item = String(data);
      size = Buffer.byteLength(item);
    }
    // Step 2 (each data type): once closing has started, the data is not sent but still counted.
    if (this.#readyState !== OPEN || this.#connection === null) {
      this.#unsentAfterClose += size;
      return;
    }
    if (this.#queue.length === 0 && !(item instanceof Blob)) {
      this.#transmit(item);
      return;
    }
    this.#queue.push(item);
    this.#queuedBytes += size;
    void this.#drainQueue();
  }

  /** The close(code, reason) method steps. */
  close(code?: number, reason?: string): void {
    // Step 1: a code other than 1000 or 3000-4999 is an InvalidAccessError.
    if (code !== undefined) {
      if (!Number.isInteger(code) || (code !== 1000 && (code < 3000 || code > 4999))) {
        throw new DOMException(`invalid close code ${code}`, 'InvalidAccessError');
      }
    }
    // Step 2: a reason longer than 123 bytes of UTF-8 is a SyntaxError.
    const reasonText = reason === undefined ? '' : String(reason);
    if (Buffer.byteLength(reasonText) > 123)
      throw new DOMException('close reason over 123 bytes', 'SyntaxError');
    // Step 3: "Run the first matching steps".
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      // Fail the WebSocket connection; the close event follows with 1006.
      this.#readyState = CLOSING;
      this.#abort.abort();
      return;
    }
    this.#readyState = CLOSING;
    const connection = this.#connection!;
    if (code === undefined && reason === undefined) connection.close();
    else connection.close(code ?? 1000, reasonText);
  }

  // Event handler IDL attributes ------------------------------------------------------------------

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
  get onclose(): Handler<CloseEvent> {
    return this.#handlers.get('close') as Handler<CloseEvent>;
  }
  set onclose(fn: Handler<CloseEvent>) {
    this.#handlers.set('close', fn as Handler<Event>);
  }

  // Connection lifecycle --------------------------------------------------------------------------

  #established(connection: WebSocketConnection): void {
    if (this.#readyState !== CONNECTING) {
      // close() was called while connecting and the abort lost the race: fail it now, with the same
      // error and close events the abort would have produced.
      connection.terminate();
      this.#failedToEstablish(new Error('the connection was closed before it was established'));
      return;
    }
    this.#connection = connection;
    // "When the WebSocket connection is established": protocol, extensions, OPEN, fire open.
    this.#protocol = connection.protocol;
    this.#extensions = connection.extensions;
    connection.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    connection.on('error', (error) => this.#fireError(error));
    connection.on('close', (code, reason, wasClean) => this.#onClosed(code, reason, wasClean));
    this.#readyState = OPEN;
    this.dispatchEvent(new Event('open'));
  }

  #failedToEstablish(error: unknown): void {
    // "Fail the WebSocket connection": CLOSED, error, then close with 1006.
    this.#readyState = CLOSED;
    this.#fireError(error);
    this.dispatchEvent(new CloseEvent('close', { wasClean: false, code: 1006, reason: '' }));
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    // "When a WebSocket message has been received": only while OPEN.
    if (this.#readyState !== OPEN) return;
    let payload: string | Blob | ArrayBuffer | Buffer;
    if (!isBinary) payload = data.toString('utf8');
    else if (this.#binaryType === 'nodebuffer') payload = data;
    else if (this.#binaryType === 'arraybuffer') {
      payload = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    } else payload = new Blob([data as Uint8Array<ArrayBuffer>]);
    this.dispatchEvent(new MessageEvent('message', { data: payload, origin: this.#url.origin }));
  }

  #fireError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.dispatchEvent(new ErrorEvent('error', { message, error }));
  }

  #onClosed(code: number, reason: string, wasClean: boolean): void {
    // "When the WebSocket connection is closed": CLOSED, then a close event.
    this.#readyState = CLOSED;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.dispatchEvent(new CloseEvent('close', { wasClean, code, reason }));
  }

  #transmit(item: Uint8Array | string): void {
    const connection = this.#connection;
    if (connection === null || this.#readyState !== OPEN) {
      this.#unsentAfterClose += typeof item === 'string' ? Buffer.byteLength(item) : item.byteLength;
      return;
    }
    connection.send(item);
  }

  async #drainQueue(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        const head = this.#queue[0]!;
        const bytes = head instanceof Blob ? new Uint8Array(await head.arrayBuffer()) : head;
        if (this.#queue[0] !== head) break; // the connection closed while the Blob was read
        this.#queue.shift();
        this.#queuedBytes -= typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
        this.#transmit(bytes);
      }
    } catch (error) {
      this.#fireError(error);
      this.#connection?.close(1011, 'could not read a Blob to send');
    } finally {
      this.#draining = false;
    }
  }
}
