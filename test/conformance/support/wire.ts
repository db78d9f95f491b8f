/**
 * RFC 6455 wire format for the conformance peer, written from the RFC and independent of Conduit's own
 * frame code on purpose: a bug shared by the code under test and the code testing it would go unseen.
 *
 * The encoder builds anything, valid or not (reserved bits and opcodes, 1-byte close payloads, oversize
 * control frames); the reader decodes whatever the endpoint under test sends and leaves the judging to
 * the peer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { endianness } from 'node:os';

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  /** The three RSV bits as Autobahn numbers them: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
  /** Repeat the payload up to this many bytes (Autobahn's `payload_len`). */
  payloadLen?: number;
}

export function toBytes(data: Uint8Array | string | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** XOR `data` in place with `key`, starting `offset` bytes into the key stream. */
export function applyMask(data: Buffer, key: Buffer, offset = 0): void {
  const n = data.length;
  let i = 0;
  if (LITTLE_ENDIAN && n >= 32) {
    // Bytes up to a 4-byte boundary of the underlying memory, then a word at a time.
    while (((data.byteOffset + i) & 3) !== 0) {
      data[i] = data[i]! ^ key[(offset + i) & 3]!;
      i++;
    }
    const s = offset + i;
    const k =
      (key[s & 3]! | (key[(s + 1) & 3]! << 8) | (key[(s + 2) & 3]! << 16) | (key[(s + 3) & 3]! << 24)) >>> 0;
    const words = new Uint32Array(data.buffer, data.byteOffset + i, (n - i) >>> 2);
    for (let w = 0; w < words.length; w++) words[w] = (words[w]! ^ k) >>> 0;
    i += words.length * 4;
  }
  for (; i < n; i++) data[i] = data[i]! ^ key[(offset + i) & 3]!;
}

const LITTLE_ENDIAN = endianness() === 'LE';

export function frameHeader(
  opcode: number,
  length: number,
  options: { fin?: boolean; rsv?: number; mask: Buffer | null },
): Buffer {
  const fin = options.fin ?? true;
  const rsv = options.rsv ?? 0;
  const extra = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const header = Buffer.alloc(2 + extra + (options.mask === null ? 0 : 4));
  header[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  const maskBit = options.mask === null ? 0 : 0x80;
  if (extra === 0) {
    header[1] = maskBit | length;
  } else if (extra === 2) {
    header[1] = maskBit | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = maskBit | 127;
    header.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  if (options.mask !== null) options.mask.copy(header, 2 + extra);
  return header;
}

/** Serialize one frame into a single buffer (the payload is copied, then masked if a key is given). */
export function encodeFrame(spec: FrameSpec, mask: Buffer | null): Buffer {
  let payload = toBytes(spec.payload);
  if (spec.payloadLen !== undefined && spec.payloadLen !== payload.length) {
    payload = repeatTo(payload, spec.payloadLen);
  }
  const header = frameHeader(spec.opcode, payload.length, { fin: spec.fin, rsv: spec.rsv, mask });
  const out = Buffer.allocUnsafe(header.length + payload.length);
  header.copy(out, 0);
  payload.copy(out, header.length);
  if (mask !== null) applyMask(out.subarray(header.length), mask);
  return out;
}

export function repeatTo(pattern: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  if (pattern.length === 0) return out.fill(0);
  for (let at = 0; at < length; at += pattern.length)
    pattern.copy(out, at, 0, Math.min(pattern.length, length - at));
  return out;
}

export function newMaskKey(): Buffer {
  return randomBytes(4);
}

/** Close frame payload: optional 2-byte code, then the reason bytes (which may be invalid UTF-8). */
export function closePayload(code?: number, reason?: Uint8Array | string): Buffer {
  if (code === undefined) return toBytes(reason);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code & 0xffff, 0);
  return Buffer.concat([head, toBytes(reason)]);
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Section 4.2.2: base64(SHA-1(key + GUID)). */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

export interface DecodedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Unmasked payload. */
  payload: Buffer;
}

/**
 * Incremental frame decoder. Payloads are collected as received chunks and joined once, so a 16 MiB
 * frame costs one copy.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): DecodedFrame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: DecodedFrame[] = [];
    for (;;) {
      const frame = this.next();
      if (frame === null) return frames;
      frames.push(frame);
    }
  }

  private next(): DecodedFrame | null {
    if (this.buffered < 2) return null;
    const head = this.peek(Math.min(this.buffered, 14));
    const b0 = head[0]!;
    const b1 = head[1]!;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let at = 2;
    if (length === 126) {
      if (head.length < 4) return null;
      length = head.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      if (head.length < 10) return null;
      const high = head.readUInt32BE(2);
      // A peer that sends a length this large is broken; treat it as unreadable (never completes).
      if (high > 0x1fffff) return null;
      length = high * 0x100000000 + head.readUInt32BE(6);
      at = 10;
    }
    const maskAt = at;
    if (masked) at += 4;
    if (this.buffered < at + length) return null;
    const key = masked ? Buffer.from(head.subarray(maskAt, maskAt + 4)) : null;
    this.take(at);
    const payload = this.take(length);
    if (key !== null) applyMask(payload, key);
    return { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload };
  }

  /** The first n buffered bytes (n <= buffered), without consuming them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const parts: Buffer[] = [];
    let have = 0;
    for (const chunk of this.chunks) {
      parts.push(chunk);
      have += chunk.length;
      if (have >= n) break;
    }
    return Buffer.concat(parts).subarray(0, n);
  }

  /** Consume n bytes into a buffer of their own (a copy when they span chunks, so masking is safe). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first !== undefined && first.length > n) {
      this.chunks[0] = first.subarray(n);
      return Buffer.from(first.subarray(0, n));
    }
    if (first !== undefined && first.length === n) {
      this.chunks.shift();
      return Buffer.from(first);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const want = n - filled;
      if (chunk.length <= want) {
        chunk.copy(out, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        chunk.copy(out, filled, 0, want);
        this.chunks[0] = chunk.subarray(want);
        filled += want;
      }
    }
    return out;
  }
}
