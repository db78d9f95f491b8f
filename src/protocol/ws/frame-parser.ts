/**
 * Incremental WebSocket frame parser (RFC 6455 section 5.2): any chunking of the byte stream, one byte
 * at a time included. Payload bytes are unmasked in place and handed on as they arrive, as views into
 * the received chunks: the parser copies no payload byte and allocates nothing from a declared length
 * (the sink assembles messages from the bytes that arrived, assembly.ts), and a payload that arrives in
 * pieces can be validated (UTF-8) before its last byte is here. Only the header can straddle chunks,
 * and then at most 14 bytes are copied.
 *
 * The parser knows framing syntax only; what a frame means (opcode rules, fragmentation, limits) is
 * decided by its sink, which can halt the parser from any callback.
 */
import { unmaskInPlace } from '../../util/mask.js';
import { ProtocolError } from '../errors.js';

export interface FrameHeader {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly rsv2: boolean;
  readonly rsv3: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** Payload length in bytes (at most 2^53 - 1; larger lengths are refused). */
  readonly length: number;
}

export interface FrameSink {
  /** A complete header was read. Payload pieces follow (none if the length is 0), then frameEnd. */
  frameStart(header: FrameHeader): void;
  /** The next piece of the current frame's payload, already unmasked: a view into a received chunk,
   *  which the parser never reuses, so the sink may keep it. */
  framePayload(piece: Buffer): void;
  /**
   * Optional: the next piece of a masked payload that arrives in several reads, still masked, with its
   * key (4 bytes, valid during the call only) and phase, for a sink that unmasks it as it copies it into
   * place (one pass instead of two). Without it such pieces come unmasked through framePayload.
   */
  framePayloadMasked?(source: Buffer, key: Uint8Array, phase: number): void;
  frameEnd(): void;
  /** The byte stream is not a sequence of frames. */
  parseError(error: ProtocolError): void;
}

const enum State {
  Header = 0,
  Length16 = 1,
  Length64 = 2,
  MaskKey = 3,
  Payload = 4,
  Halted = 5,
}

/** Scratch for the key of the piece being unmasked: filled right before each (synchronous) use. */
const KEY = Buffer.alloc(4);

function keyBytes(key: number): Buffer {
  KEY.writeUInt32BE(key, 0);
  return KEY;
}

export class FrameParser {
  private state = State.Header;
  private readonly chunks: Buffer[] = [];
  /** Read position inside chunks[0]. */
  private offset = 0;
  /** Unread bytes across all chunks. */
  private buffered = 0;

  private b0 = 0;
  private b1 = 0;
  private length = 0;
  private remaining = 0;
  private phase = 0;
  /** The frame's masking key as a big-endian 32-bit number (no Buffer per connection). */
  private maskKey = 0;
  /** Stop at the next frame boundary (the sink is busy with a message, e.g. inflating it). */
  private paused = false;

  constructor(private readonly sink: FrameSink) {}

  /** Stop parsing for good: later input is ignored (after a close frame or a failure). */
  halt(): void {
    this.state = State.Halted;
    this.chunks.length = 0;
    this.buffered = 0;
    this.offset = 0;
  }

  /**
   * Stop before the next frame: bytes already received stay buffered, and later input is buffered
   * too, until `resume()`. Takes effect at a frame boundary, so it may be called from frameEnd.
   */
  pause(): void {
    this.paused = true;
  }

  /** Parse what was buffered while paused (the sink may pause again from its callbacks). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.state !== State.Halted) this.run();
  }

  get halted(): boolean {
    return this.state === State.Halted;
  }

  /** Bytes received but not yet parsed (header bytes waiting for the rest of their header). */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Feed received bytes. The chunk may be modified in place (unmasking). */
  push(chunk: Buffer): void {
    if (this.state === State.Halted || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (!this.paused) this.run();
  }

  private run(): void {
    for (;;) {
      switch (this.state) {
        case State.Header: {
          if (this.buffered < 2 || this.paused) return;
          const first = this.chunks[0]!;
          if (first.length - this.offset >= 2) {
            this.b0 = first[this.offset]!;
            this.b1 = first[this.offset + 1]!;
            this.skip(2);
          } else {
            this.b0 = this.readByte();
            this.b1 = this.readByte();
          }
          const len7 = this.b1 & 0x7f;
          if (len7 === 126) this.state = State.Length16;
          else if (len7 === 127) this.state = State.Length64;
          else {
            this.length = len7;
            this.afterLength();
          }
          break;
        }
        case State.Length16: {
          if (this.buffered < 2) return;
          this.length = (this.readByte() << 8) | this.readByte();
          this.afterLength();
          break;
        }
        case State.Length64: {
          if (this.buffered < 8) return;
          const bytes = this.read(8);
          const high = bytes.readUInt32BE(0);
          const low = bytes.readUInt32BE(4);
          // RFC 6455 section 5.2: "the most significant bit MUST be 0".
          if (high & 0x80000000) {
            this.fail(
              new ProtocolError(
                'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
                1002,
                'the most significant bit of a 64-bit payload length must be 0',
              ),
            );
            return;
          }
          if (high > 0x1fffff) {
            this.fail(
              new ProtocolError(
                'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
                1009,
                'payload length exceeds 2^53 - 1 bytes',
              ),
            );
            return;
          }
          this.length = high * 0x100000000 + low;
          this.afterLength();
          break;
        }
        case State.MaskKey: {
          if (this.buffered < 4) return;
          const first = this.chunks[0]!;
          if (first.length - this.offset >= 4) {
            this.maskKey = first.readUInt32BE(this.offset);
            this.skip(4);
          } else {
            let key = 0;
            for (let i = 0; i < 4; i++) key = (key << 8) | this.readByte();
            this.maskKey = key >>> 0;
          }
          this.startFrame();
          break;
        }
        case State.Payload: {
          if (this.remaining === 0) {
            this.state = State.Header;
            this.sink.frameEnd();
            break;
          }
          if (this.buffered === 0) return;
          const first = this.chunks[0]!;
          const available = first.length - this.offset;
          const take = Math.min(available, this.remaining);
          const source =
            this.offset === 0 && take === first.length
              ? first
              : first.subarray(this.offset, this.offset + take);
          this.skip(take);
          const masked = (this.b1 & 0x80) !== 0;
          const whole = take === this.length;
          if (masked && !whole && this.sink.framePayloadMasked !== undefined) {
            // Arrives in several reads: the sink copies it into place, unmasking as it goes.
            const phase = this.phase;
            this.remaining -= take;
            this.phase = (phase + take) & 3;
            this.sink.framePayloadMasked(source, keyBytes(this.maskKey), phase);
            break;
          }
          // Unmasked in place: the chunk is ours (push() takes it), and no byte is copied here.
          if (masked) unmaskInPlace(source, keyBytes(this.maskKey), this.phase);
          this.remaining -= take;
          if (masked) this.phase = (this.phase + take) & 3;
          this.sink.framePayload(source);
          break;
        }
        case State.Halted:
          return;
      }
    }
  }

  private afterLength(): void {
    if (this.b1 & 0x80) this.state = State.MaskKey;
    else this.startFrame();
  }

  private startFrame(): void {
    const b0 = this.b0;
    this.remaining = this.length;
    this.phase = 0;
    this.state = State.Payload;
    this.sink.frameStart({
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked: (this.b1 & 0x80) !== 0,
      length: this.length,
    });
    // The sink may have halted us; the loop in run() checks the state.
  }

  private fail(error: ProtocolError): void {
    this.halt();
    this.sink.parseError(error);
  }

  private readByte(): number {
    const first = this.chunks[0]!;
    const value = first[this.offset]!;
    this.skip(1);
    return value;
  }

  /** Consume n buffered bytes as one contiguous view, copying only if they straddle chunks. */
  private read(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n);
      this.skip(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const take = Math.min(n - filled, chunk.length - this.offset);
      chunk.copy(out, filled, this.offset, this.offset + take);
      filled += take;
      this.skip(take);
    }
    return out;
  }

  private skip(n: number): void {
    this.offset += n;
    this.buffered -= n;
    const first = this.chunks[0];
    if (first !== undefined && this.offset === first.length) {
      this.chunks.shift();
      this.offset = 0;
      // Emptied: drop the backing store too (V8 keeps its capacity otherwise), ~150 bytes per idle
      // connection.
      if (this.chunks.length === 0) this.chunks.length = 0;
    }
  }
}
