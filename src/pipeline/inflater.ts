/**
 * The receiving half of permessage-deflate (RFC 7692 section 7.2.2), an async stage outside the
 * sans-I/O core: one message at a time, in order, through a lazily created raw-inflate stream.
 *
 * Bounded memory: `maxPayload` applies to the *inflated* size, checked as each output chunk appears;
 * past it the stream is dropped at once and the message fails with 1009. A compression bomb costs the
 * server at most maxPayload plus one zlib chunk (16 KiB), never the bomb's full size.
 */
import { constants, createInflateRaw, type InflateRaw } from 'node:zlib';
import { ProtocolError } from '../protocol/errors.js';

/** Section 7.2.2: append 00 00 ff ff to the payload before inflating it. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface InflaterOptions {
  /** The peer's compression window (inflating with 15 bits reads any smaller window too). */
  windowBits?: number;
  /** The peer resets its context after every message: so do we, and free the stream in between. */
  noContextTakeover: boolean;
  /** Largest inflated message, bytes. */
  maxPayload: number;
}

type Done = (error: ProtocolError | null, data?: Buffer) => void;

interface Job {
  data: Buffer;
  done: Done;
}

export class MessageInflater {
  private stream: InflateRaw | null = null;
  private readonly queue: Job[] = [];
  private busy = false;
  private chunks: Buffer[] = [];
  private length = 0;
  private current: Job | null = null;
  private closed = false;

  constructor(private readonly options: InflaterOptions) {}

  /** Messages waiting or in progress. */
  get pending(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  /**
   * Inflate one compressed message; `done` runs in order of submission with the inflated bytes, or
   * with a ProtocolError (1009 over maxPayload, 1007 for data that is not valid DEFLATE).
   */
  inflate(data: Buffer, done: Done): void {
    if (this.closed) {
      done(new ProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1011, 'the inflater is closed'));
      return;
    }
    this.queue.push({ data, done });
    if (!this.busy) this.next();
  }

  /** Release zlib memory; later and queued messages fail. */
  close(): void {
    this.closed = true;
    this.busy = false;
    this.current = null;
    this.dropStream();
    const queued = this.queue.splice(0);
    for (const job of queued)
      job.done(new ProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1011, 'the inflater is closed'));
  }

  private next(): void {
    const job = this.queue.shift();
    if (job === undefined) {
      this.busy = false;
      return;
    }
    this.busy = true;
    this.current = job;
    this.chunks = [];
    this.length = 0;
    const stream = this.ensureStream();
    stream.write(job.data);
    stream.write(TAIL);
    stream.flush(constants.Z_SYNC_FLUSH, this.onFlushed);
  }

  private ensureStream(): InflateRaw {
    if (this.stream !== null) return this.stream;
    const stream = createInflateRaw({ windowBits: this.options.windowBits ?? 15 });
    stream.on('data', this.onData);
    stream.on('error', this.onError);
    this.stream = stream;
    return stream;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.current === null) return;
    this.length += chunk.length;
    if (this.length > this.options.maxPayload) {
      this.finish(
        new ProtocolError(
          'WS_ERR_MESSAGE_TOO_BIG',
          1009,
          `inflated message exceeds maxPayload (${this.options.maxPayload} bytes)`,
        ),
      );
      return;
    }
    this.chunks.push(chunk);
  };

  private readonly onError = (): void => {
    this.finish(new ProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1007, 'invalid compressed data'));
  };

  private readonly onFlushed = (): void => {
    if (this.current === null) return;
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    if (this.options.noContextTakeover) this.dropStream();
    this.finish(null, data);
  };

  private finish(error: ProtocolError | null, data?: Buffer): void {
    const job = this.current;
    if (job === null) return;
    this.current = null;
    this.chunks = [];
    if (error !== null) {
      // The stream's state is unusable after an error or an abandoned message: start afresh. A
      // failed message fails the connection anyway, so whatever is queued fails too.
      this.dropStream();
      job.done(error);
      this.close();
      return;
    }
    job.done(null, data);
    this.next();
  }

  private dropStream(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    stream.off('data', this.onData);
    stream.off('error', this.onError);
    stream.on('error', () => {});
    stream.close();
  }
}
