/**
 * The receiving half of permessage-deflate (RFC 7692 section 7.2.2), an async stage outside the
 * sans-I/O core: one message at a time, in order, through a lazily created raw-inflate stream.
 *
 * Bounded memory: `maxPayload` applies to the *inflated* size, checked as each output chunk appears;
 * past it the stream is dropped at once and the message fails with 1009. A compression bomb costs the
 * server at most maxPayload plus one zlib chunk (16 KiB), never the bomb's full size.
 */
import { constants, createInflateRaw, type InflateRaw, inflateRawSync } from 'node:zlib';
import { ProtocolError } from '../protocol/errors.js';
import { unstoreMessage } from './stored-block.js';
import { zlibLimiter } from './zlib-limiter.js';

/** Section 7.2.2: append 00 00 ff ff to the payload before inflating it. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface InflaterOptions {
  /** The peer's compression window (inflating with 15 bits reads any smaller window too). */
  windowBits?: number;
  /** The peer resets its context after every message: so do we, and keep no stream in between. */
  noContextTakeover: boolean;
  /** Largest inflated message, bytes. */
  maxPayload: number;
  /**
   * Without context takeover, inflate messages of up to this many *compressed* bytes synchronously.
   * Default 8 KiB: one such message inflates to at most maxPayload, and usually to a few KiB.
   */
  syncLimit?: number;
}

type Done = (error: ProtocolError | null, data?: Buffer) => void;

interface Job {
  data: Buffer;
  done: Done;
}

export const DEFAULT_INFLATE_SYNC_LIMIT = 8 * 1024;

export class MessageInflater {
  private stream: InflateRaw | null = null;
  private readonly queue: Job[] = [];
  private busy = false;
  private chunks: Buffer[] = [];
  private length = 0;
  private current: Job | null = null;
  /** Whether the message in progress holds a slot of the zlib limiter. */
  private slotHeld = false;
  private closed = false;
  private readonly syncLimit: number;
  /** The stream met a block with BFINAL=1 (RFC 7692 section 7.2.3.4): it takes no more input. */
  private streamEnded = false;
  /**
   * With context takeover, once the peer has ended a message with a BFINAL=1 block: the last window's
   * worth of inflated bytes, the dictionary of the stream that continues after such a message.
   */
  private history: Buffer | null = null;

  constructor(private readonly options: InflaterOptions) {
    this.syncLimit = options.noContextTakeover ? (options.syncLimit ?? DEFAULT_INFLATE_SYNC_LIMIT) : -1;
  }

  /** Messages waiting or in progress. */
  get pending(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  /** Whether `inflateSync` would take this message now (stateless peer, small, nothing queued). */
  canInflateSync(size: number): boolean {
    return size <= this.syncLimit && !this.busy && !this.closed;
  }

  /**
   * Inflate a message on its own, synchronously. Throws a ProtocolError: 1009 past maxPayload (zlib
   * stops as soon as its output passes the limit), 1007 for data that is not valid DEFLATE.
   */
  inflateSync(data: Buffer): Buffer {
    if (data.length === 0) return Buffer.alloc(0); // as in startJob
    // Stored blocks only (what a sender that skips zlib for short messages sends, stored-block.ts):
    // read without zlib. Safe here: this peer resets its context, so no window must see the bytes.
    const stored = unstoreMessage(data);
    if (stored !== null) {
      if (stored.length > this.options.maxPayload) throw this.tooBig();
      return stored;
    }
    const input = withTail(data);
    try {
      return inflateRawSync(input, {
        windowBits: this.options.windowBits ?? 15,
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: this.options.maxPayload,
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw this.tooBig();
      throw invalidData();
    }
  }

  /**
   * Inflate one compressed message; `done` runs in order of submission with the inflated bytes, or
   * with a ProtocolError (1009 over maxPayload, 1007 for data that is not valid DEFLATE).
   */
  inflate(data: Buffer, done: Done): void {
    if (this.closed) {
      done(closedError());
      return;
    }
    this.queue.push({ data, done });
    if (!this.busy) this.next();
  }

  /** Release zlib memory; later and queued messages fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropStream();
    const job = this.current;
    this.current = null;
    this.busy = false;
    const queued = this.queue.splice(0);
    if (job !== null) job.done(closedError());
    for (const waiting of queued) waiting.done(closedError());
  }

  private next(): void {
    const job = this.queue.shift();
    if (job === undefined) {
      this.busy = false;
      return;
    }
    this.busy = true;
    this.current = job;
    zlibLimiter.run(this.startJob);
  }

  private readonly startJob = (): void => {
    this.slotHeld = true;
    const job = this.current;
    if (this.closed || job === null) {
      this.releaseSlot();
      return;
    }
    this.chunks = [];
    this.length = 0;
    if (job.data.length === 0) {
      // An empty payload (7.2.1 never produces one) is an empty message. Fed to zlib with the tail it
      // would leave the stream inside a stored block and garble every later message.
      this.releaseSlot();
      this.finish(null, Buffer.alloc(0));
      return;
    }
    const stream = this.ensureStream();
    // One write, flushed (the stream's `flush` option): one thread-pool job per message. The payload
    // and the tail are joined for it; a copy of the message costs less than a second job.
    const input = withTail(job.data);
    // The callback names its stream: one dropped meanwhile (error, limit, close) must not count.
    stream.write(input, (error) => {
      if (stream !== this.stream) return;
      if (error) this.onError();
      else this.onFlushed(stream);
    });
  };

  private ensureStream(): InflateRaw {
    if (this.stream !== null) return this.stream;
    const windowBits = this.options.windowBits ?? 15;
    const stream =
      this.history === null
        ? createInflateRaw({ windowBits, flush: constants.Z_SYNC_FLUSH })
        : createInflateRaw({ windowBits, flush: constants.Z_SYNC_FLUSH, dictionary: this.history });
    this.streamEnded = false;
    stream.on('data', this.onData);
    stream.on('error', this.onError);
    stream.on('end', this.onEnd);
    this.stream = stream;
    return stream;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.current === null) return;
    this.length += chunk.length;
    if (this.length > this.options.maxPayload) {
      this.finish(this.tooBig());
      return;
    }
    this.chunks.push(chunk);
  };

  private readonly onError = (): void => {
    this.finish(invalidData());
  };

  /**
   * zlib ends the stream after a BFINAL=1 block and would swallow every later write without a word.
   * (Our 00 00 ff ff tail is always left over after such a block, so Node ends the readable side
   * before the flush completes.)
   */
  private readonly onEnd = (): void => {
    this.streamEnded = true;
  };

  private onFlushed(stream: InflateRaw): void {
    if (stream !== this.stream || this.current === null) return;
    this.releaseSlot();
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    if (this.options.noContextTakeover) {
      this.dropStream();
    } else if (this.streamEnded || this.history !== null) {
      // The next message starts a new DEFLATE stream that may still refer back into the window: keep
      // the window ourselves from the first BFINAL=1 message on (a peer that flushes that way does so
      // for every message; before it, nothing is kept, so ordinary peers cost nothing).
      this.history = lastBytes(this.history, data, 1 << (this.options.windowBits ?? 15));
      if (this.streamEnded) this.dropStream();
    }
    this.finish(null, data);
  }

  private finish(error: ProtocolError | null, data?: Buffer): void {
    const job = this.current;
    if (job === null) return;
    this.current = null;
    this.chunks = [];
    if (error !== null) {
      // The stream's state is unusable after an error or an abandoned message: drop it. A failed
      // message fails the connection anyway, so whatever is queued fails too.
      this.dropStream();
      job.done(error);
      this.close();
      return;
    }
    job.done(null, data);
    this.next();
  }

  private tooBig(): ProtocolError {
    return new ProtocolError(
      'WS_ERR_MESSAGE_TOO_BIG',
      1009,
      `inflated message exceeds maxPayload (${this.options.maxPayload} bytes)`,
    );
  }

  private releaseSlot(): void {
    if (!this.slotHeld) return;
    this.slotHeld = false;
    zlibLimiter.release();
  }

  private dropStream(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    // A flush still pending on it will be ignored, so the slot it held is released now.
    this.releaseSlot();
    stream.off('data', this.onData);
    stream.off('error', this.onError);
    stream.off('end', this.onEnd);
    stream.on('error', noop);
    stream.close();
  }
}

function noop(): void {}

/** The payload with 00 00 ff ff appended (section 7.2.2), in one buffer for one zlib call. */
function withTail(data: Buffer): Buffer {
  const input = Buffer.allocUnsafe(data.length + 4);
  data.copy(input, 0);
  TAIL.copy(input, data.length);
  return input;
}

/** The last `size` bytes of `before` followed by `data`, in a buffer of their own. */
function lastBytes(before: Buffer | null, data: Buffer, size: number): Buffer {
  if (data.length >= size) return Buffer.from(data.subarray(data.length - size));
  const keep = before === null ? 0 : Math.min(before.length, size - data.length);
  const out = Buffer.allocUnsafe(keep + data.length);
  if (keep > 0) before!.copy(out, 0, before!.length - keep);
  data.copy(out, keep);
  return out;
}

function invalidData(): ProtocolError {
  return new ProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1007, 'invalid compressed data');
}

function closedError(): ProtocolError {
  return new ProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1011, 'the inflater is closed');
}
