/**
 * The Node adapter of a WebSocket connection: a core `Connection` joined to a byte stream (a TCP or TLS
 * socket after an HTTP/1.1 upgrade, or later an HTTP/2 stream). It owns what the core must not: the
 * socket, the close timer, backpressure in both directions, and the typed events users listen to.
 *
 * The API follows ws's server-side socket so code moves over with few changes: `send(data, opts, cb)`,
 * `ping`, `pong`, `close(code, reason)`, `terminate()`, `bufferedAmount`, and 'message', 'ping', 'pong',
 * 'close', 'error', 'drain' events. Differences: the 'close' reason is a string, and an 'error' event is
 * only emitted when someone listens, so a misbehaving peer can never crash the process.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { DeflateCodec } from '../../pipeline/permessage-deflate.js';
import { storeMessage } from '../../pipeline/stored-block.js';
import type { ProtocolError } from '../../protocol/errors.js';
import type { AssemblyBudget } from '../../protocol/ws/assembly.js';
import {
  Connection,
  type ConnectionHandler,
  type FrameInfo,
  ReadyState,
  type Role,
} from '../../protocol/ws/connection.js';
import { toBytes, type WebSocketData } from './bytes.js';
import { CompressionQueues } from './compression.js';
import { PreparedMessage } from './prepared.js';

export { toBytes, type WebSocketData } from './bytes.js';

import { randomMask } from './random.js';

/** Events and their listener arguments. */
export type WebSocketConnectionEvents = {
  /** A complete message; `isBinary` false for text (the bytes are valid UTF-8). */
  message: [data: Buffer, isBinary: boolean];
  ping: [payload: Buffer];
  pong: [payload: Buffer];
  /** The connection is closed: the close code received (1005 none, 1006 abnormal) and reason. */
  close: [code: number, reason: string, wasClean: boolean];
  error: [error: Error];
  /** The outbound buffer went over the high-water mark and has now drained. */
  drain: [];
  /** Every frame in and out, when `inspectFrames` is set. */
  frame: [frame: FrameInfo];
};

export interface ConnectionAdapterOptions {
  role: Role;
  /** Negotiated subprotocol ('' for none). */
  protocol?: string;
  /** Negotiated extensions header value ('' for none). */
  extensions?: string;
  /** Largest message accepted, bytes. Default 16 MiB. */
  maxPayload?: number;
  /** Frames one message may span; past it 1008. Default 16,384 (protocol/ws/connection.ts). */
  maxFragments?: number;
  /** Memory shared by the messages being received on many connections; past it 1013. */
  budget?: AssemblyBudget;
  /** How long to wait for the peer to finish the closing handshake before destroying the socket. */
  closeTimeout?: number;
  /** Bytes queued for writing above which reading pauses until the queue drains. Default 1 MiB. */
  highWaterMark?: number;
  /**
   * Stop reading while more than `highWaterMark` bytes wait to be sent. Default: on for servers (an
   * echoing server must not buffer without bound for a peer that does not read), off for clients
   * (a client that both uploads and pauses could deadlock with a server doing the same).
   */
  pauseOnBackpressure?: boolean;
  /** Emit 'frame' for every frame read and written. */
  inspectFrames?: boolean;
  /** Bytes already read past the handshake (the `head` of an upgrade). */
  head?: Buffer;
  /** Request URL path, for the server side. */
  url?: string;
  /** permessage-deflate state, when the handshake agreed on it. */
  deflate?: DeflateCodec | null;
}

export interface SendOptions {
  /** Send as binary even when given a string; default: text for strings, binary otherwise. */
  binary?: boolean;
  /** false to send a fragment; the message continues with the next send (default true). */
  fin?: boolean;
  /**
   * With permessage-deflate negotiated: false sends this message plain (uncompressed, RSV1 clear),
   * which some clients mishandle (see PerMessageDeflateOptions.shortMessages). By default messages of
   * at least `threshold` bytes are compressed and shorter ones follow `shortMessages`; fragments are
   * always plain.
   */
  compress?: boolean;
}

type Callback = (error?: Error | null) => void;

const DEFAULT_CLOSE_TIMEOUT = 30_000;
const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

export class NotOpenError extends Error {
  override readonly name = 'NotOpenError';
  readonly code = 'WS_ERR_NOT_OPEN';
}

const OWNER = Symbol('conduit.connection');
type OwnedSocket = Duplex & { [OWNER]?: WebSocketConnection };

function owner(socket: Duplex): WebSocketConnection {
  return (socket as OwnedSocket)[OWNER]!;
}
function socketData(this: Duplex, chunk: Buffer): void {
  owner(this).onSocketData(chunk);
}
function socketEnd(this: Duplex): void {
  owner(this).onSocketEnd();
}
function socketClose(this: Duplex): void {
  owner(this).onSocketClose();
}
function socketError(this: Duplex, error: Error): void {
  owner(this).onSocketError(error);
}
function socketDrain(this: Duplex): void {
  owner(this).onSocketDrain();
}
function checkBackpressureTick(connection: WebSocketConnection): void {
  connection.checkBackpressure();
}
function checkDrainedTick(connection: WebSocketConnection): void {
  connection.checkDrainedAfterQueue();
}

export class WebSocketConnection
  extends EventEmitter<WebSocketConnectionEvents>
  implements ConnectionHandler
{
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readonly protocol: string;
  readonly extensions: string;
  readonly url: string;
  /** Set by the server's heartbeat: has anything arrived since the last ping? */
  isAlive = true;

  private readonly core: Connection;
  private readonly socket: Duplex;
  private readonly closeTimeout: number;
  private readonly highWaterMark: number;
  private readonly pauseOnBackpressure: boolean;
  private readonly inspectFrames: boolean;
  private closeTimer: NodeJS.Timeout | null = null;
  private pendingCallback: Callback | null = null;
  private overHighWaterMark = false;
  private backpressureCheckPending = false;
  private readingPausedByUser = false;
  private closed = false;
  private started = false;
  private head: Buffer | null;
  /** permessage-deflate's state, when negotiated. */
  private readonly codec: DeflateCodec | null;
  /** Its ordered queues, created with the first compressed message either way (idle sockets: none). */
  private deflate: CompressionQueues | null = null;
  private holdForInflate = false;
  private drainCheckPending = false;
  /** An outbound frame's description, held until the frame leaves the compression queue. */
  private heldFrameInfo: FrameInfo | null = null;
  private framingFromQueue = false;
  /** The transport ended while a message was inflating: 'close' waits for it. */
  private eofPending = false;
  /** The peer's FIN came while a message was inflating: our side ends once it is handled. */
  private endAfterInflate = false;
  /** Pongs on their way to the kernel; the payload of the latest ping past them, to answer next. */
  private pongsInFlight = 0;
  private nextPong: Buffer | null = null;
  /** The server's `clients`, left on close (a field, not a listener closure per connection). */
  private registry: Set<WebSocketConnection> | null = null;

  constructor(socket: Duplex, options: ConnectionAdapterOptions) {
    super();
    this.socket = socket;
    this.protocol = options.protocol ?? '';
    this.extensions = options.extensions ?? '';
    this.url = options.url ?? '';
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.pauseOnBackpressure = options.pauseOnBackpressure ?? options.role === 'server';
    this.inspectFrames = options.inspectFrames === true;
    this.core = new Connection(
      {
        role: options.role,
        maxPayload: options.maxPayload,
        maxFragments: options.maxFragments,
        budget: options.budget,
        allowRsv1: options.deflate != null,
        generateMask: options.role === 'client' ? randomMask : undefined,
        // Pongs are answered here, at most MAX_PONGS_IN_FLIGHT on their way (answerPing).
        autoPong: false,
        onFrame: options.inspectFrames ? (f) => this.onCoreFrame(f) : undefined,
      },
      this,
    );
    this.head = options.head ?? null;
    this.codec = options.deflate ?? null;
    // Socket listeners are shared functions that find the connection on the socket: no closures per
    // connection (an idle server holds thousands).
    (socket as OwnedSocket)[OWNER] = this;
    socket.on('end', socketEnd);
    socket.on('close', socketClose);
    socket.on('error', socketError);
    socket.on('drain', socketDrain);
  }

  /** @internal Leave `clients` when closed (before 'close' is emitted). */
  trackIn(clients: Set<WebSocketConnection>): void {
    this.registry = clients;
  }

  /**
   * Start reading: the bytes that came with the handshake first, then the socket. Called by the server
   * and the client once the application had its chance to attach listeners; until then the socket
   * stays paused, so nothing is lost.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    const head = this.head;
    this.head = null;
    if (head !== null && head.length > 0) this.onSocketData(head);
    this.socket.on('data', socketData);
    this.updateReading();
  }

  get readyState(): 0 | 1 | 2 | 3 {
    return this.core.readyState;
  }

  /**
   * Whether more than `highWaterMark` bytes wait to be sent (judged a tick after the write that
   * passed it). 'drain' is emitted when it clears: a sender that stops while this is true is sure to
   * be told when to go on.
   */
  get backpressured(): boolean {
    return this.overHighWaterMark;
  }

  /** Bytes accepted by send() and not yet handed to the operating system. */
  get bufferedAmount(): number {
    const queued = this.deflate === null ? 0 : this.deflate.outboundBytes;
    return this.socket.writableLength + queued;
  }

  /** The remote address, when the transport is a socket. */
  get remoteAddress(): string | undefined {
    return (this.socket as Duplex & { remoteAddress?: string }).remoteAddress;
  }

  /**
   * Send a message. Strings go as text unless `binary` is set; everything else as binary. The callback
   * runs once the frame is handed to the OS, or with an error if the connection is not open (nothing is
   * sent then, and `send` returns false). It never throws for a closed connection.
   */
  send(data: WebSocketData | PreparedMessage, options?: SendOptions | Callback, cb?: Callback): boolean {
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    if (data instanceof PreparedMessage) return this.sendPrepared(data, options?.compress !== false, cb);
    const isText = typeof data === 'string' && options?.binary !== true;
    const bytes = toBytes(data);
    if (!this.acceptWrite(cb)) return false;
    const fin = options?.fin ?? true;
    const codec = this.codec;
    let stored = false;
    if (codec !== null && fin && options?.compress !== false && !this.core.sendingFragmented) {
      if (bytes.length >= codec.threshold) {
        this.pendingCallback = null;
        this.queues(codec).sendCompressed(bytes, isText, cb ?? null);
        this.checkBackpressureSoon();
        return true;
      }
      // RSV1 on every message, for peers that expect it (PerMessageDeflateOptions.shortMessages). No
      // zlib: framed by the core now, it waits in onWrite behind a message still being compressed.
      stored = codec.storesShortMessages;
    }
    try {
      if (stored) this.core.send(storeMessage(bytes), isText, true, true);
      else this.core.send(bytes, isText, fin);
    } finally {
      this.pendingCallback = null;
    }
    return true;
  }

  /**
   * A message framed once for many connections (a broadcast): on the server side, its bytes are
   * written as they are, compressed once per set of shared-mode parameters. Fragmentation in
   * progress, the client role (frames are masked per connection) and frame inspection take the
   * ordinary path.
   */
  private sendPrepared(message: PreparedMessage, compress: boolean, cb: Callback | undefined): boolean {
    const core = this.core;
    if (core.role === 'client' || this.inspectFrames || core.sendingFragmented) {
      return this.send(message.data, { binary: !message.isText, compress }, cb);
    }
    if (!this.acceptWrite(cb)) return false;
    this.pendingCallback = null;
    const codec = this.codec;
    let chunks: Buffer[];
    if (codec !== null && compress && message.data.length >= codec.threshold) {
      const deflate = this.queues(codec);
      const deflater = codec.deflater;
      const key = deflater.statelessKey;
      if (key === null || deflate.outboundPending || !deflater.canCompressSync(message.data.length)) {
        deflate.sendCompressed(message.data, message.isText, cb ?? null);
        this.checkBackpressureSoon();
        return true;
      }
      chunks = message.compressedFrame(key, (data) => deflater.compressSync(data));
    } else if (codec !== null && compress && codec.storesShortMessages) {
      chunks = message.storedFrame();
    } else {
      chunks = message.frame();
    }
    const deflate = this.deflate;
    if (deflate?.outboundPending) deflate.queueRaw(chunks, cb ?? null);
    else this.writeChunks(chunks, cb ?? null);
    return true;
  }

  /**
   * Hold writes until `uncork()` (Node's socket cork): many messages sent in between leave in one
   * system call. Calls nest; each cork needs its uncork.
   */
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  ping(data: WebSocketData = EMPTY, cb?: Callback): boolean {
    const bytes = toBytes(data);
    if (!this.acceptWrite(cb)) return false;
    try {
      this.core.ping(bytes);
    } finally {
      this.pendingCallback = null;
    }
    return true;
  }

  pong(data: WebSocketData = EMPTY, cb?: Callback): boolean {
    const bytes = toBytes(data);
    if (!this.acceptWrite(cb)) return false;
    try {
      this.core.pong(bytes);
    } finally {
      this.pendingCallback = null;
    }
    return true;
  }

  /**
   * Start the closing handshake. Without a code, the close frame carries no status (the peer sees 1005).
   * Throws RangeError/TypeError for a code that may not be sent or a reason over 123 bytes.
   */
  close(code?: number, reason?: string): void {
    if (this.closed) return;
    this.core.close(code, reason ?? '');
    this.armCloseTimer();
  }

  /** Destroy the socket now, without a closing handshake. */
  terminate(): void {
    if (this.closed) return;
    this.socket.destroy();
  }

  /** Stop reading from the peer (messages stay queued in the kernel; TCP flow control pushes back). */
  pause(): void {
    this.readingPausedByUser = true;
    this.socket.pause();
  }

  resume(): void {
    this.readingPausedByUser = false;
    this.updateReading();
  }

  // ConnectionHandler (called by the core) --------------------------------------------------------

  onMessage(data: Buffer, isText: boolean, compressed: boolean): void {
    const codec = this.codec;
    if (codec === null || (!compressed && this.deflate === null)) this.emit('message', data, !isText);
    else this.queues(codec).receive(data, isText, compressed);
  }

  onPing(payload: Buffer): void {
    this.answerPing(payload);
    this.emit('ping', payload);
  }

  /**
   * Answer a ping (RFC 6455 section 5.5.2), with at most MAX_PONGS_IN_FLIGHT pongs on their way to the
   * kernel: past it, a newer ping's payload replaces the one waiting behind them ("an endpoint MAY
   * elect to send a Pong frame for only the most recently processed Ping frame", section 5.5.3). A
   * flood of empty pings from a peer that never reads would otherwise queue a socket write each (2
   * bytes counted by the high-water mark, ~120 bytes of bookkeeping each: 60 MiB measured).
   */
  private answerPing(payload: Buffer): void {
    if (this.core.readyState !== ReadyState.Open || this.closed) return;
    if (this.pongsInFlight >= MAX_PONGS_IN_FLIGHT) {
      this.nextPong = Buffer.from(payload);
      return;
    }
    this.pongsInFlight++;
    this.pendingCallback = this.pongWritten;
    this.core.pong(payload);
  }

  private readonly pongWritten = (): void => {
    this.pongsInFlight--;
    const next = this.nextPong;
    this.nextPong = null;
    if (next !== null) this.answerPing(next);
  };

  onPong(payload: Buffer): void {
    this.emit('pong', payload);
  }

  onCloseFrame(): void {
    // Client role: the server closes TCP first (section 7.1.1); wait for it, but not forever.
    this.armCloseTimer();
  }

  onWrite(chunks: Buffer[]): void {
    const cb = this.pendingCallback;
    this.pendingCallback = null;
    if (this.deflate?.outboundPending) {
      // A compressed message is still being compressed: this frame goes out after it (and is
      // reported to frame inspectors when it does).
      const info = this.heldFrameInfo;
      this.heldFrameInfo = null;
      this.deflate.queueRaw(chunks, cb, info);
      return;
    }
    this.writeChunks(chunks, cb);
  }

  /** Frame inspection: report outbound frames in wire order, also when they wait in the queue. */
  private onCoreFrame(frame: FrameInfo): void {
    if (frame.direction === 'out' && !this.framingFromQueue && this.deflate?.outboundPending)
      this.heldFrameInfo = frame;
    else this.emit('frame', frame);
  }

  private writeChunks(chunks: Buffer[], cb: Callback | null): void {
    const socket = this.socket;
    let ok: boolean;
    if (chunks.length === 1) {
      ok = cb === null ? socket.write(chunks[0]) : socket.write(chunks[0], cb);
    } else {
      socket.cork();
      for (let i = 0; i < chunks.length - 1; i++) socket.write(chunks[i]);
      ok =
        cb === null ? socket.write(chunks[chunks.length - 1]) : socket.write(chunks[chunks.length - 1], cb);
      socket.uncork();
    }
    if (!ok) this.checkBackpressureSoon();
  }

  private checkBackpressureSoon(): void {
    if (!this.backpressureCheckPending && !this.overHighWaterMark) {
      // Judge the backlog on the next tick: a write the kernel took at once is still counted in
      // writableLength until Node's own after-write tick, which runs before ours.
      this.backpressureCheckPending = true;
      process.nextTick(checkBackpressureTick, this);
    }
  }

  /** @internal Backpressure: while the peer does not read what we write, stop reading what it writes. */
  checkBackpressure(): void {
    this.backpressureCheckPending = false;
    if (this.overHighWaterMark || this.closed || this.bufferedAmount < this.highWaterMark) return;
    this.overHighWaterMark = true;
    this.updateReading();
  }

  /** Read from the socket unless the user, our backlog or waiting inflations say otherwise. */
  private updateReading(): void {
    if (!this.started || this.closed) return;
    const backlog = this.overHighWaterMark && this.pauseOnBackpressure;
    if (this.readingPausedByUser || backlog || this.holdForInflate) this.socket.pause();
    else this.socket.resume();
  }

  onEnd(): void {
    // Both close frames crossed (server), or the connection failed: close the transport, after any
    // frames still waiting behind a message being compressed.
    if (this.deflate?.outboundPending) this.deflate.queueEnd();
    else this.socket.end();
    this.armCloseTimer();
  }

  onProtocolError(error: ProtocolError): void {
    // An internal failure is reported with its cause (failInternally).
    if (error.code === 'WS_ERR_INTERNAL') return;
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  // Socket events ---------------------------------------------------------------------------------

  /** @internal */
  onSocketData(chunk: Buffer): void {
    this.isAlive = true;
    // Everything written while this read is handled (echoes, pongs, close frames) leaves in one writev
    // instead of one system call per frame.
    const socket = this.socket;
    socket.cork();
    try {
      this.core.receiveData(chunk);
    } catch (error) {
      // Whatever a peer's bytes provoke (an allocation that failed, a listener that threw on its
      // message) costs this connection, never the process: it closes with 1011.
      this.failInternally(error as Error);
    } finally {
      socket.uncork();
    }
  }

  private failInternally(error: Error): void {
    try {
      this.core.fail('WS_ERR_INTERNAL', 1011, 'internal error');
    } catch {
      this.socket.destroy();
    }
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(`WebSocket connection closed with 1011 after: ${error.stack ?? error.message}`);
  }

  /** @internal */
  onSocketEnd(): void {
    // The peer will send nothing more; finish our side too, but only after a message still inflating
    // and what came behind it (a close frame, whose echo we owe; pings) are handled and answered.
    if (this.deflate?.inboundPending) {
      this.endAfterInflate = true;
      return;
    }
    this.endOutput();
  }

  /** End our side of the transport, after whatever waits in the compression queue. */
  private endOutput(): void {
    if (this.deflate?.outboundPending) this.deflate.queueEnd();
    else this.socket.end();
  }

  /** @internal */
  onSocketDrain(): void {
    // Only a backlog that went over our high-water mark is reported (the socket drains far more often).
    if (!this.overHighWaterMark) return;
    if (this.deflate !== null && this.deflate.outboundBytes >= this.highWaterMark) return;
    this.drained();
  }

  /**
   * After a write from the compression queue: the socket emits 'drain' only if a write found its
   * buffer full, so a backlog that was mostly waiting for zlib must be seen to drain here.
   */
  /** @internal */
  checkDrainedAfterQueue(): void {
    this.drainCheckPending = false;
    if (!this.overHighWaterMark || this.closed || this.socket.writableNeedDrain) return;
    if (this.deflate !== null && this.deflate.outboundBytes >= this.highWaterMark) return;
    this.drained();
  }

  private drained(): void {
    this.overHighWaterMark = false;
    this.updateReading();
    this.emit('drain');
  }

  /** @internal */
  onSocketError(error: Error): void {
    // Reset, EPIPE, TLS errors: the socket closes next, and 'close' reports 1006.
    if (this.listenerCount('error') > 0 && !this.closed) this.emit('error', error);
  }

  /** @internal */
  onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.closeTimer !== null) {
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
    const deflate = this.deflate;
    if (deflate !== null) {
      deflate.closeOutbound(new NotOpenError('the connection closed before the message was sent'));
      if (deflate.inboundPending) {
        // A message that arrived before the end is still inflating: deliver it, and parse what came
        // after it (the close frame, perhaps), before reporting the close.
        this.eofPending = true;
        return;
      }
    }
    this.finishClose();
  }

  private finishClose(): void {
    const { code, reason, wasClean } = this.core.receiveEof();
    this.deflate?.dispose();
    this.codec?.close();
    if (this.registry !== null) {
      this.registry.delete(this);
      this.registry = null;
    }
    this.emit('close', code, reason, wasClean);
  }

  private queues(codec: DeflateCodec): CompressionQueues {
    if (this.deflate !== null) return this.deflate;
    this.deflate = new CompressionQueues(codec, {
      deliver: (data, isText) => {
        // Delivered from a zlib callback: what it provokes must close this connection only.
        try {
          this.emit('message', data, !isText);
        } catch (error) {
          this.failInternally(error as Error);
        }
      },
      failInbound: (error) => this.core.fail(error.code, error.closeCode, error.message),
      holdReading: (hold) => {
        this.holdForInflate = hold;
        if (hold) this.core.pauseInput();
        else {
          try {
            this.core.resumeInput();
          } catch (error) {
            this.failInternally(error as Error);
          }
        }
        // Resuming may have started another inflation: read the flag again.
        this.updateReading();
      },
      inboundIdle: () => {
        if (this.endAfterInflate) {
          this.endAfterInflate = false;
          this.endOutput();
        }
        if (!this.eofPending) return;
        this.eofPending = false;
        this.finishClose();
      },
      frame: (payload, isText, compressed) => {
        // Framed as it is written: inspectors hear of it now.
        this.framingFromQueue = true;
        try {
          return this.core.frameMessage(payload, isText, compressed);
        } finally {
          this.framingFromQueue = false;
        }
      },
      write: (chunks, cb, info) => {
        if (info !== null) this.emit('frame', info);
        this.writeChunks(chunks, cb);
        if (this.overHighWaterMark && !this.drainCheckPending) {
          this.drainCheckPending = true;
          process.nextTick(checkDrainedTick, this);
        }
      },
      end: () => this.socket.end(),
    });
    return this.deflate;
  }

  // Helpers ---------------------------------------------------------------------------------------

  /**
   * Check that a write may go out; if not, report NotOpenError to `cb` and return false. Otherwise hold
   * `cb` for the frame the core is about to write (onWrite attaches it to the socket write). No
   * per-message closure: the caller invokes the core directly.
   */
  private acceptWrite(cb: Callback | undefined): boolean {
    if (this.core.readyState !== ReadyState.Open || this.closed) {
      const error = new NotOpenError(
        `WebSocket is not open: readyState ${this.core.readyState} (${STATE_NAMES[this.core.readyState]})`,
      );
      if (cb !== undefined) process.nextTick(cb, error);
      return false;
    }
    this.pendingCallback = cb ?? null;
    return true;
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null || this.closed) return;
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.closeTimeout);
    this.closeTimer.unref();
  }
}

const STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const;
/** Pongs written and not yet handed to the kernel, at most (then only the latest ping is answered). */
const MAX_PONGS_IN_FLIGHT = 16;
const EMPTY = Buffer.alloc(0);
