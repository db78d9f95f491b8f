/**
 * The load generator's minimal WebSocket framing, written for speed, not for generality: client
 * frames are built once with a fixed mask key and reused for every send (acceptable for load
 * generation; a real client draws a fresh key per frame), and echoed server frames are only counted,
 * never copied or decoded.
 */

/** Fixed masking key of every frame the load generator sends. */
export const MASK_KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

export const OPCODE_BINARY = 0x2;

/** A complete masked client frame (FIN set) carrying `payload`. */
export function buildClientFrame(payload: Buffer, opcode = OPCODE_BINARY): Buffer {
  const length = payload.length;
  const base = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(base + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 0x10000) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  MASK_KEY.copy(frame, base);
  const at = base + 4;
  for (let i = 0; i < length; i++) frame[at + i] = payload[i]! ^ MASK_KEY[i & 3]!;
  return frame;
}

/** Thrown when the server sends something other than unmasked, unfragmented data frames. */
export class UnexpectedFrameError extends Error {
  override readonly name = 'UnexpectedFrameError';
}

/**
 * Counts the server frames in a byte stream, any chunking. Only the (at most 10-byte) header is looked
 * at byte by byte; payload bytes are skipped in bulk.
 */
export class ServerFrameCounter {
  /** Complete data messages seen. */
  messages = 0;
  /** Payload bytes seen. */
  payloadBytes = 0;

  private readonly header = Buffer.alloc(10);
  private headerHave = 0;
  private headerNeed = 2;
  private remaining = 0;
  private inPayload = false;

  /** Feed received bytes; returns how many messages they completed. */
  push(chunk: Buffer): number {
    const length = chunk.length;
    let completed = 0;
    let i = 0;
    while (i < length) {
      if (this.inPayload) {
        const available = length - i;
        const take = Math.min(available, this.remaining);
        this.remaining -= take;
        this.payloadBytes += take;
        i += take;
        if (this.remaining === 0) {
          this.inPayload = false;
          completed++;
        }
        continue;
      }
      this.header[this.headerHave++] = chunk[i++]!;
      if (this.headerHave === 2) {
        const b0 = this.header[0]!;
        const b1 = this.header[1]!;
        if ((b0 & 0x80) === 0 || (b0 & 0x0f) >= 0x8 || (b0 & 0x0f) === 0 || (b1 & 0x80) !== 0) {
          throw new UnexpectedFrameError(
            `unexpected server frame: first bytes 0x${b0.toString(16)} 0x${b1.toString(16)}`,
          );
        }
        const len7 = b1 & 0x7f;
        this.headerNeed = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      }
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
      if (payloadLength === 0) {
        completed++;
      } else {
        this.remaining = payloadLength;
        this.inPayload = true;
      }
    }
    this.messages += completed;
    return completed;
  }
}

/**
 * Counts echoed bytes of a bare TCP echo in units of whole client frames: the raw-TCP ceiling sends
 * the very same masked frames and receives them back unchanged.
 */
export class EchoedByteCounter {
  messages = 0;
  payloadBytes = 0;
  private partial = 0;

  constructor(
    private readonly frameLength: number,
    private readonly payloadLength: number,
  ) {}

  push(chunk: Buffer): number {
    const total = this.partial + chunk.length;
    const completed = Math.floor(total / this.frameLength);
    this.partial = total - completed * this.frameLength;
    this.messages += completed;
    // Payload share of the bytes, so MB/s compares with the WebSocket servers' payload throughput.
    this.payloadBytes += (chunk.length * this.payloadLength) / this.frameLength;
    return completed;
  }
}
