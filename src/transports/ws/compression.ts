/**
 * permessage-deflate inside the Node adapter: the ordered queues between the core and the socket.
 *
 * Compression and inflation may be asynchronous (thread-pool jobs), yet the wire and the application
 * must see messages in order. So, per direction, while anything is waiting, everything after it waits
 * too: outbound, the frames the core writes meanwhile (uncompressed messages, fragments, pongs, the
 * close frame, the end of the transport) queue behind the message being compressed; inbound, messages
 * are delivered in arrival order. When nothing waits and the message is small enough for the
 * synchronous path, nothing is queued at all.
 *
 * Bounds: inbound, at most one message waits (reading holds while it inflates); outbound, queued
 * bytes count in `bufferedAmount` and in the adapter's high-water mark like bytes in the socket.
 */
import type { DeflateCodec } from '../../pipeline/permessage-deflate.js';
import type { ProtocolError } from '../../protocol/errors.js';
import { ProtocolError as ProtocolErrorClass } from '../../protocol/errors.js';
import type { FrameInfo } from '../../protocol/ws/connection.js';
import { isValidUtf8 } from '../../util/utf8.js';

type Callback = (error?: Error | null) => void;

/** What the queues need from the connection that owns them. */
export interface CompressionHost {
  /** Hand a complete, decoded message to the application. */
  deliver(data: Buffer, isText: boolean): void;
  /** A received message could not be decoded: fail the connection with this error. */
  failInbound(error: ProtocolError): void;
  /** Hold (true) or resume (false) reading, the core's parsing and the socket, while a message inflates. */
  holdReading(hold: boolean): void;
  /** No inbound message is waiting any more (delivered or dropped). */
  inboundIdle(): void;
  /** Frame a compressed or plain data message (the core's framing, with the client's masking). */
  frame(payload: Buffer, isText: boolean, compressed: boolean): Buffer[];
  /** Write to the socket now; `info` describes a frame that waited (for frame inspectors). */
  write(chunks: Buffer[], cb: Callback | null, info: FrameInfo | null): void;
  /** End the transport now (the core asked for it while frames were queued). */
  end(): void;
}

const enum Kind {
  Compress,
  Raw,
  End,
}

interface OutItem {
  kind: Kind;
  data: Buffer | null;
  chunks: Buffer[] | null;
  isText: boolean;
  cb: Callback | null;
  bytes: number;
  info: FrameInfo | null;
}

export class CompressionQueues {
  private readonly out: OutItem[] = [];
  private outBytes = 0;
  private deflating = false;
  private inflating = false;
  private inflatingText = false;
  private failed = false;
  private outClosed = false;
  private disposed = false;

  constructor(
    readonly codec: DeflateCodec,
    private readonly host: CompressionHost,
  ) {}

  get outboundPending(): boolean {
    return this.out.length > 0;
  }

  /** Bytes accepted for sending and not yet handed to the socket. */
  get outboundBytes(): number {
    return this.outBytes;
  }

  // Outbound ------------------------------------------------------------------------------------

  /** Send a complete message compressed (the caller checked the state and the threshold). */
  sendCompressed(data: Buffer, isText: boolean, cb: Callback | null): void {
    const deflater = this.codec.deflater;
    if (this.out.length === 0 && deflater.canCompressSync(data.length)) {
      this.host.write(this.host.frame(deflater.compressSync(data), isText, true), cb, null);
      return;
    }
    this.push({ kind: Kind.Compress, data, chunks: null, isText, cb, bytes: data.length, info: null });
  }

  /** Frames the core wrote while a compressed message waits: they go out after it. */
  queueRaw(chunks: Buffer[], cb: Callback | null, info: FrameInfo | null = null): void {
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    this.push({ kind: Kind.Raw, data: null, chunks, isText: false, cb, bytes, info });
  }

  /** The core asked to end the transport while frames wait: end after them. */
  queueEnd(): void {
    this.push({ kind: Kind.End, data: null, chunks: null, isText: false, cb: null, bytes: 0, info: null });
  }

  private push(item: OutItem): void {
    this.out.push(item);
    this.outBytes += item.bytes;
    if (this.out.length === 1) this.pumpOut();
  }

  private pumpOut(): void {
    while (this.out.length > 0 && !this.deflating && !this.outClosed) {
      const item = this.out[0]!;
      if (item.kind === Kind.Raw) {
        this.shiftOut();
        this.host.write(item.chunks!, item.cb, item.info);
      } else if (item.kind === Kind.End) {
        this.shiftOut();
        this.host.end();
      } else {
        const deflater = this.codec.deflater;
        if (deflater.canCompressSync(item.bytes)) {
          this.shiftOut();
          this.host.write(
            this.host.frame(deflater.compressSync(item.data!), item.isText, true),
            item.cb,
            null,
          );
        } else {
          this.deflating = true;
          deflater.compress(item.data!, this.onDeflated);
        }
      }
    }
  }

  private readonly onDeflated = (error: Error | null, out?: Buffer): void => {
    this.deflating = false;
    if (this.outClosed) return;
    const item = this.shiftOut();
    if (error !== null || out === undefined) {
      // zlib failing to compress is an internal error: report it to the sender and fail the link.
      item.cb?.(error ?? new Error('compression failed'));
      this.host.failInbound(
        new ProtocolErrorClass('WS_ERR_INVALID_COMPRESSED_DATA', 1011, 'compression failed'),
      );
      return;
    }
    this.host.write(this.host.frame(out, item.isText, true), item.cb, null);
    this.pumpOut();
  };

  private shiftOut(): OutItem {
    const item = this.out.shift()!;
    this.outBytes -= item.bytes;
    return item;
  }

  // Inbound -------------------------------------------------------------------------------------

  /**
   * A message from the core; `compressed` when RSV1 was set on its first frame. A message that must
   * be inflated in the thread pool holds reading (the core's input and the socket) until it is
   * delivered, so nothing after it, not even a close frame, is handled before it: at most one inbound
   * message waits at a time.
   */
  receive(data: Buffer, isText: boolean, compressed: boolean): void {
    if (this.failed || this.disposed) return;
    if (!compressed) {
      this.host.deliver(data, isText);
      return;
    }
    const inflater = this.codec.inflater;
    if (inflater.canInflateSync(data.length)) {
      let out: Buffer;
      try {
        out = inflater.inflateSync(data);
      } catch (error) {
        this.fail(error as ProtocolError);
        return;
      }
      this.deliverChecked(out, isText);
      return;
    }
    this.inflating = true;
    this.inflatingText = isText;
    this.host.holdReading(true);
    inflater.inflate(data, this.onInflated);
  }

  get inboundPending(): boolean {
    return this.inflating;
  }

  private readonly onInflated = (error: ProtocolError | null, out?: Buffer): void => {
    if (!this.inflating) return;
    this.inflating = false;
    if (this.failed || this.disposed) return;
    if (error !== null || out === undefined) this.fail(error ?? invalid());
    else this.deliverChecked(out, this.inflatingText);
    // Parse what waited behind this message (it may start another inflation), then report idle.
    this.host.holdReading(false);
    if (!this.inflating) this.host.inboundIdle();
  };

  private deliverChecked(data: Buffer, isText: boolean): void {
    // RFC 6455 section 8.1 applies to the inflated text.
    if (isText && !isValidUtf8(data)) {
      this.fail(new ProtocolErrorClass('WS_ERR_INVALID_UTF8', 1007, 'invalid UTF-8 in a text message'));
      return;
    }
    this.host.deliver(data, isText);
  }

  private fail(error: ProtocolError): void {
    this.failed = true;
    this.host.failInbound(error);
  }

  // Teardown ------------------------------------------------------------------------------------

  /** The transport is gone: what waits to be sent never will (callbacks get `error`). */
  closeOutbound(error: Error): void {
    if (this.outClosed) return;
    this.outClosed = true;
    const items = this.out.splice(0);
    this.outBytes = 0;
    for (const item of items) item.cb?.(error);
  }

  /** Free all zlib state now; a message still inflating is dropped. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.outClosed = true;
    this.inflating = false;
    this.codec.close();
  }
}

function invalid(): ProtocolError {
  return new ProtocolErrorClass('WS_ERR_INVALID_COMPRESSED_DATA', 1007, 'invalid compressed data');
}
