/**
 * The sending half of permessage-deflate (RFC 7692 section 7.2.1): compress one message at a time,
 * in order, and remove the 00 00 ff ff tail a sync flush leaves.
 *
 * Two ways to compress, chosen by the agreement:
 * - without context takeover (our side resets after every message: the "shared" memory mode), a
 *   message is compressed on its own, with no zlib state kept between messages. Messages up to
 *   `syncLimit` bytes are compressed synchronously (a 4 KiB message takes ~30 us, less than a round
 *   trip through the thread pool); larger ones go to the thread pool as one-shot jobs.
 * - with context takeover (the "dedicated" mode), one raw-deflate stream per connection, created on
 *   the first message and kept, so later messages refer back to earlier ones.
 * Thread-pool jobs go through the process-wide zlib limiter.
 */
import {
  constants,
  createDeflateRaw,
  type DeflateRaw,
  deflateRaw,
  deflateRawSync,
  type ZlibOptions,
} from 'node:zlib';
import { zlibLimiter } from './zlib-limiter.js';

export interface DeflaterOptions {
  /** Our LZ77 window, 9-15 bits (the agreed *_max_window_bits of our side). */
  windowBits: number;
  /** Reset the context after every message (no context takeover on our side). */
  noContextTakeover: boolean;
  /** zlib compression level, 0-9 (default 6, zlib's default). */
  level?: number;
  /** zlib memLevel, 1-9 (default 8). */
  memLevel?: number;
  /** Without context takeover, compress messages up to this size synchronously. Default 64 KiB. */
  syncLimit?: number;
}

type Done = (error: Error | null, data?: Buffer) => void;

export const DEFAULT_SYNC_LIMIT = 64 * 1024;

export class MessageDeflater {
  private readonly zlibOptions: ZlibOptions;
  private readonly noContextTakeover: boolean;
  private readonly syncLimit: number;
  private stream: DeflateRaw | null = null;
  private chunks: Buffer[] = [];
  private length = 0;
  /** The message in progress: its input and its callback. */
  private input: Buffer | null = null;
  private current: Done | null = null;
  /** Whether the message in progress holds a slot of the zlib limiter. */
  private slotHeld = false;
  private closed = false;

  constructor(options: DeflaterOptions) {
    this.noContextTakeover = options.noContextTakeover;
    this.syncLimit = options.syncLimit ?? DEFAULT_SYNC_LIMIT;
    this.zlibOptions = {
      windowBits: options.windowBits,
      level: options.level ?? constants.Z_DEFAULT_COMPRESSION,
      memLevel: options.memLevel ?? 8,
      finishFlush: constants.Z_SYNC_FLUSH,
    };
  }

  /** A key naming the exact bytes this deflater produces for a message on its own (shared mode). */
  get statelessKey(): string | null {
    if (!this.noContextTakeover) return null;
    const o = this.zlibOptions;
    return `${o.windowBits}:${o.level}:${o.memLevel}`;
  }

  /** Whether `compressSync` would take a message of this size. */
  canCompressSync(size: number): boolean {
    return this.noContextTakeover && size <= this.syncLimit && !this.closed;
  }

  /**
   * Compress a message on its own, synchronously (shared mode, up to `syncLimit` bytes). The caller
   * keeps order: it only uses this when nothing is queued before the message.
   */
  compressSync(data: Buffer): Buffer {
    return stripTail(deflateRawSync(data, this.zlibOptions));
  }

  /** Compress one message; `done` runs once, with the payload to send with RSV1 or an error. */
  compress(data: Buffer, done: Done): void {
    if (this.closed || this.current !== null) {
      done(new Error(this.closed ? 'the deflater is closed' : 'one message at a time: the caller queues'));
      return;
    }
    this.current = done;
    this.input = data;
    zlibLimiter.run(this.startJob);
  }

  /** Free zlib memory; a message in progress fails. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropStream();
    this.finish(new Error('the deflater is closed'));
  }

  private readonly startJob = (): void => {
    this.slotHeld = true;
    const data = this.input;
    this.input = null;
    if (this.closed || data === null) {
      this.releaseSlot();
      return;
    }
    if (this.noContextTakeover) {
      deflateRaw(data, this.zlibOptions, this.onOneShot);
      return;
    }
    if (data.length === 0) {
      // zlib emits nothing for an empty write after a sync flush; the empty message is one empty
      // stored block, 00 (the receiver appends 00 00 ff ff), which leaves the window as it was.
      this.releaseSlot();
      this.finish(null, Buffer.from([0x00]));
      return;
    }
    let stream = this.stream;
    if (stream === null) {
      // Every write ends with a sync flush (the `flush` option): one thread-pool job per message,
      // where write() then flush() would make two.
      stream = createDeflateRaw({ ...this.zlibOptions, flush: constants.Z_SYNC_FLUSH });
      stream.on('data', this.onData);
      stream.on('error', this.onError);
      this.stream = stream;
    }
    this.chunks = [];
    this.length = 0;
    // The callback names its stream: one dropped meanwhile (error, close) must not count. It runs once
    // zlib has produced the whole flushed output ('data' events come first).
    stream.write(data, (error) => {
      if (stream !== this.stream) return;
      if (error) this.onError(error);
      else this.onFlushed(stream);
    });
  };

  private readonly onOneShot = (error: Error | null, out: Buffer): void => {
    // A one-shot job cannot be cancelled: its slot is released here even after close().
    this.releaseSlot();
    this.finish(error, error === null ? stripTail(out) : undefined);
  };

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.length += chunk.length;
  };

  private readonly onError = (error: Error): void => {
    this.dropStream();
    this.finish(error);
  };

  private onFlushed(stream: DeflateRaw): void {
    if (stream !== this.stream) return;
    this.releaseSlot();
    const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    this.chunks = [];
    this.finish(null, stripTail(out));
  }

  private finish(error: Error | null, data?: Buffer): void {
    const done = this.current;
    if (done === null) return;
    this.current = null;
    this.input = null;
    done(error, data);
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
    // Its flush callback will be ignored, so the slot it held is released now.
    this.releaseSlot();
    this.chunks = [];
    stream.off('data', this.onData);
    stream.off('error', this.onError);
    stream.on('error', noop);
    stream.close();
  }
}

function noop(): void {}

/** Section 7.2.1 step 3: a sync flush ends with an empty stored block, 00 00 ff ff; remove it. */
function stripTail(out: Buffer): Buffer {
  const n = out.length;
  if (n >= 4 && out[n - 4] === 0x00 && out[n - 3] === 0x00 && out[n - 2] === 0xff && out[n - 1] === 0xff) {
    return out.subarray(0, n - 4);
  }
  return out;
}
