/**
 * Framing for the compressed-traffic load: client frames built at send time from pre-compressed
 * payloads with a fresh masking key per frame (so no server can benefit from a repeated key), and
 * readers that count echoed frames from their headers alone, never copying or inflating payloads.
 */

/** FIN + RSV1 (compressed, RFC 7692 section 6) + text opcode: what we send and expect back. */
export const COMPRESSED_TEXT = 0xc1;
/** FIN + close opcode. */
export const CLOSE = 0x88;

export class UnexpectedEchoError extends Error {
  override readonly name = 'UnexpectedEchoError';
}

function headerLength(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10;
}

/** Builds masked client frames, cycling through a fixed list of payloads. */
export class MaskedFrameWriter {
  /** xorshift32 state for the masking keys: cheap, and never the same key twice in a row. */
  private keyState: number;

  constructor(
    private readonly payloads: readonly Buffer[],
    seed: number,
    private readonly firstByte = COMPRESSED_TEXT,
  ) {
    this.keyState = (seed * 2654435761) >>> 0 || 1;
  }

  get count(): number {
    return this.payloads.length;
  }

  /** Bytes on the wire of the frame carrying payload `index`. */
  frameLength(index: number): number {
    const length = this.payloads[index % this.payloads.length]!.length;
    return headerLength(length) + 4 + length;
  }

  /** `count` frames carrying payloads start, start+1, ... (cyclic), in one buffer for one write. */
  build(start: number, count: number): Buffer {
    let total = 0;
    for (let i = 0; i < count; i++) total += this.frameLength(start + i);
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = 0; i < count; i++)
      at = this.writeFrame(out, at, this.payloads[(start + i) % this.payloads.length]!);
    return out;
  }

  private nextKey(): number {
    let x = this.keyState;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.keyState = x >>> 0;
    return this.keyState;
  }

  private writeFrame(out: Buffer, start: number, payload: Buffer): number {
    const length = payload.length;
    let at = start;
    out[at++] = this.firstByte;
    if (length < 126) {
      out[at++] = 0x80 | length;
    } else if (length < 0x10000) {
      out[at++] = 0x80 | 126;
      out.writeUInt16BE(length, at);
      at += 2;
    } else {
      out[at++] = 0x80 | 127;
      out.writeUInt32BE(Math.floor(length / 0x100000000), at);
      out.writeUInt32BE(length >>> 0, at + 4);
      at += 8;
    }
    const key = this.nextKey();
    const k0 = key >>> 24;
    const k1 = (key >>> 16) & 0xff;
    const k2 = (key >>> 8) & 0xff;
    const k3 = key & 0xff;
    out[at++] = k0;
    out[at++] = k1;
    out[at++] = k2;
    out[at++] = k3;
    const whole = length & ~3;
    let i = 0;
    for (; i < whole; i += 4) {
      out[at + i] = payload[i]! ^ k0;
      out[at + i + 1] = payload[i + 1]! ^ k1;
      out[at + i + 2] = payload[i + 2]! ^ k2;
      out[at + i + 3] = payload[i + 3]! ^ k3;
    }
    const keys = [k0, k1, k2, k3];
    for (; i < length; i++) out[at + i] = payload[i]! ^ keys[i & 3]!;
    return at + length;
  }
}

/**
 * Counts echoed server frames from their headers. Every data frame must be a compressed, unfragmented
 * text frame (first byte 0xC1): an echo without RSV1 means the server did not compress, and the
 * benchmark would not measure what it claims, so that fails loudly. A close frame is allowed only
 * when `allowClose` (the soak's closing handshake) and sets `closeReceived`.
 */
export class CompressedEchoReader {
  messages = 0;
  /** Compressed payload bytes of the echoed data frames. */
  payloadBytes = 0;
  closeReceived = false;

  private readonly header = Buffer.alloc(10);
  private headerHave = 0;
  private headerNeed = 2;
  private remaining = 0;
  private inPayload = false;
  private inClose = false;

  constructor(private readonly allowClose = false) {}

  /** Feed received bytes; returns how many data messages they completed. */
  push(chunk: Buffer): number {
    const length = chunk.length;
    let completed = 0;
    let i = 0;
    while (i < length) {
      if (this.inPayload) {
        const take = Math.min(length - i, this.remaining);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) {
          this.inPayload = false;
          completed += this.endFrame();
        }
        continue;
      }
      this.header[this.headerHave++] = chunk[i++]!;
      if (this.headerHave === 2) this.checkStart();
      if (this.headerHave < this.headerNeed) continue;
      const len7 = this.header[1]! & 0x7f;
      const payloadLength =
        len7 === 126
          ? this.header.readUInt16BE(2)
          : len7 === 127
            ? this.header.readUInt32BE(2) * 0x100000000 + this.header.readUInt32BE(6)
            : len7;
      this.headerHave = 0;
      this.headerNeed = 2;
      if (!this.inClose) this.payloadBytes += payloadLength;
      if (payloadLength === 0) completed += this.endFrame();
      else {
        this.remaining = payloadLength;
        this.inPayload = true;
      }
    }
    this.messages += completed;
    return completed;
  }

  private checkStart(): void {
    const b0 = this.header[0]!;
    const b1 = this.header[1]!;
    if ((b1 & 0x80) !== 0) throw new UnexpectedEchoError('the server sent a masked frame');
    if (b0 === CLOSE && this.allowClose) this.inClose = true;
    else if (b0 !== COMPRESSED_TEXT) {
      const why = (b0 & 0x40) === 0 ? ' (RSV1 clear: the server did not compress the echo)' : '';
      throw new UnexpectedEchoError(`unexpected server frame, first byte 0x${b0.toString(16)}${why}`);
    }
    const len7 = b1 & 0x7f;
    this.headerNeed = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
  }

  /** 1 when a data frame ended, 0 for a close frame. */
  private endFrame(): number {
    if (!this.inClose) return 1;
    this.inClose = false;
    this.closeReceived = true;
    return 0;
  }
}

/**
 * The raw-TCP ceiling echoes our frames byte for byte. Frames differ in length (64 messages), so the
 * counter walks the same cyclic sequence of frame lengths the connection sends, from the same start.
 */
export class CyclicEchoCounter {
  messages = 0;
  payloadBytes = 0;
  private index: number;
  private remaining: number;

  constructor(
    private readonly writer: MaskedFrameWriter,
    start: number,
  ) {
    this.index = start;
    this.remaining = writer.frameLength(start);
  }

  push(chunk: Buffer): number {
    let left = chunk.length;
    let completed = 0;
    this.payloadBytes += left;
    while (left >= this.remaining) {
      left -= this.remaining;
      completed++;
      this.index = (this.index + 1) % this.writer.count;
      this.remaining = this.writer.frameLength(this.index);
    }
    this.remaining -= left;
    this.messages += completed;
    return completed;
  }
}

/** Whole server frames, reassembled (used only by the probes before the load starts). */
export class FrameCollector {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
  }

  /** The next complete frame's first byte and payload, or null if it has not fully arrived. */
  next(): { first: number; payload: Buffer } | null {
    const b = this.buffered;
    if (b.length < 2) return null;
    const len7 = b[1]! & 0x7f;
    const base = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
    if (b.length < base) return null;
    const length = len7 === 126 ? b.readUInt16BE(2) : len7 === 127 ? Number(b.readBigUInt64BE(2)) : len7;
    if (b.length < base + length) return null;
    this.buffered = b.subarray(base + length);
    return { first: b[0]!, payload: b.subarray(base, base + length) };
  }
}
