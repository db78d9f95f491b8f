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
 * Bounds: inbound, reading from the socket pauses while more than INBOUND_PAUSE_BYTES or
 * INBOUND_PAUSE_COUNT messages wait; outbound, queued bytes count in `bufferedAmount` and in the
 * adapter's high-water mark like bytes waiting in the socket.
 */
import type { DeflateCodec } from '../../pipeline/permessage-deflate.js';
import type { ProtocolError } from '../../protocol/errors.js';
import { ProtocolError as ProtocolErrorClass } from '../../protocol/errors.js';
import { isValidUtf8 } from '../../util/utf8.js';

type Callback = (error?: Error | null) => void;

/** What the queues need from the connection that owns them. */
export interface CompressionHost {
  /** Hand a complete, decoded message to the application. */
  deliver(data: Buffer, isText: boolean): void;
  /** A received message could not be decoded: fail the connection with this error. */
  failInbound(error: ProtocolError): void;
  /** Pause (true) or resume (false) reading while inbound messages wait. */
  holdReading(hold: boolean): void;
  /** Every waiting inbound message has been delivered (or dropped). */
  inboundIdle(): void;
  /** Frame a compressed or plain data message (the core's framing, with the client's masking). */
  frame(payload: Buffer, isText: boolean, compressed: boolean): Buffer[];
  /** Write to the socket now. */
  write(chunks: Buffer[], cb: Callback | null): void;
  /** End the transport now (the core asked for it while frames were queued). */
  end(): void;
}

const INBOUND_PAUSE_COUNT = 64;
const INBOUND_PAUSE_BYTES = 1024 * 1024;

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
}

interface InItem {
  data: Buffer;
  isText: boolean;
  compressed: boolean;
}

export class CompressionQueues {
  private readonly out: OutItem[] = [];
  private outBytes = 0;
  private deflating = false;
  private readonly inbound: InItem[] = [];
  private inBytes = 0;
  private inflating = false;
  private holding = false;
  private failed = false;
  private closed = false;

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

  get inboundPending(): boolean {
    return this.inbound.length > 0;
  }

  // Outbound ------------------------------------------------------------------------------------

  /** Send a complete message compressed (the caller checked the state and the threshold). */
  sendCompressed(data: Buffer, isText: boolean, cb: Callback | null): void {
    const deflater = this.codec.deflater;
    if (this.out.length === 0 && deflater.canCompressSync(data.length)) {
      this.host.write(this.host.frame(deflater.compressSync(data), isText, true), cb);
      return;
    }
    this.push({ kind: Kind.Compress, data, chunks: null, isText, cb, bytes: data.length });
  }

  /** Frames the core wrote while a compressed message waits: they go out after it. */
  queueRaw(chunks: Buffer[], cb: Callback | null): void {
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    this.push({ kind: Kind.Raw, data: null, chunks, isText: false, cb, bytes });
  }

  /** The core asked to end the transport while frames wait: end after them. */
  queueEnd(): void {
    this.push({ kind: Kind.End, data: null, chunks: null, isText: false, cb: null, bytes: 0 });
  }

  private push(item: OutItem): void {
    this.out.push(item);
    this.outBytes += item.bytes;
    if (this.out.length === 1) this.pumpOut();
  }

  private pumpOut(): void {
    while (this.out.length > 0 && !this.deflating && !this.closed) {
      const item = this.out[0]!;
      if (item.kind === Kind.Raw) {
        this.shiftOut();
        this.host.write(item.chunks!, item.cb);
      } else if (item.kind === Kind.End) {
        this.shiftOut();
        this.host.end();
      } else {
        const deflater = this.codec.deflater;
        if (deflater.canCompressSync(item.bytes)) {
          this.shiftOut();
          this.host.write(this.host.frame(deflater.compressSync(item.data!), item.isText, true), item.cb);
        } else {
          this.deflating = true;
          deflater.compress(item.data!, this.onDeflated);
        }
      }
    }
  }

  private readonly onDeflated = (error: Error | null, out?: Buffer): void => {
    this.deflating = false;
    if (this.closed) return;
    const item = this.shiftOut();
    if (error !== null || out === undefined) {
      // zlib failing to compress is an internal error: report it to the sender and fail the link.
      item.cb?.(error ?? new Error('compression failed'));
      this.host.failInbound(
        new ProtocolErrorClass('WS_ERR_INVALID_COMPRESSED_DATA', 1011, 'compression failed'),
      );
      return;
    }
    this.host.write(this.host.frame(out, item.isText, true), item.cb);
    this.pumpOut();
  };

  private shiftOut(): OutItem {
    const item = this.out.shift()!;
    this.outBytes -= item.bytes;
    return item;
  }

  // Inbound -------------------------------------------------------------------------------------

  /** A message from the core; `compressed` when RSV1 was set on its first frame. */
  receive(data: Buffer, isText: boolean, compressed: boolean): void {
    if (this.failed || this.closed) return;
    if (this.inbound.length === 0) {
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
    }
    this.inbound.push({ data, isText, compressed });
    this.inBytes += data.length;
    if (
      !this.holding &&
      (this.inbound.length >= INBOUND_PAUSE_COUNT || this.inBytes >= INBOUND_PAUSE_BYTES)
    ) {
      this.holding = true;
      this.host.holdReading(true);
    }
    if (this.inbound.length === 1) this.pumpIn();
  }

  private pumpIn(): void {
    while (this.inbound.length > 0 && !this.inflating && !this.failed) {
      const item = this.inbound[0]!;
      if (!item.compressed) {
        this.shiftIn();
        this.host.deliver(item.data, item.isText);
        continue;
      }
      this.inflating = true;
      this.codec.inflater.inflate(item.data, this.onInflated);
    }
    if (this.inbound.length === 0) this.idle();
  }

  private readonly onInflated = (error: ProtocolError | null, out?: Buffer): void => {
    this.inflating = false;
    if (this.failed) return;
    const item = this.shiftIn();
    if (error !== null || out === undefined) {
      if (!this.closed) this.fail(error!);
      else this.dropInbound();
      return;
    }
    this.deliverChecked(out, item.isText);
    this.pumpIn();
  };

  private deliverChecked(data: Buffer, isText: boolean): void {
    // RFC 6455 section 8.1 applies to the inflated text.
    if (isText && !isValidUtf8(data)) {
      this.fail(new ProtocolErrorClass('WS_ERR_INVALID_UTF8', 1007, 'invalid UTF-8 in a text message'));
      return;
    }
    this.host.deliver(data, isText);
  }

  private shiftIn(): InItem {
    const item = this.inbound.shift()!;
    this.inBytes -= item.data.length;
    return item;
  }

  private fail(error: ProtocolError): void {
    this.dropInbound();
    this.host.failInbound(error);
  }

  private dropInbound(): void {
    this.failed = true;
    this.inbound.length = 0;
    this.inBytes = 0;
    this.idle();
  }

  private idle(): void {
    if (this.holding) {
      this.holding = false;
      this.host.holdReading(false);
    }
    this.host.inboundIdle();
  }

  // Teardown ------------------------------------------------------------------------------------

  /**
   * The transport is gone: what waits to be sent never will (callbacks get `error`); free zlib state
   * unless inbound messages are still being inflated (`finishInbound` lets them complete first).
   */
  closeOutbound(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    const items = this.out.splice(0);
    this.outBytes = 0;
    for (const item of items) item.cb?.(error);
  }

  /** Free all zlib state now. */
  dispose(): void {
    this.closed = true;
    this.failed = true;
    this.inbound.length = 0;
    this.inBytes = 0;
    this.codec.close();
  }
}
