/**
 * An independent, deliberately naive frame encoder and decoder (RFC 6455 section 5.2) for building
 * fixtures, malformed ones included, and for reading what a connection wrote. It shares no code with
 * src/, so the core's writer and parser are checked against a second reading of the spec.
 */

/** RFC 6455 section 5.7's example masking key. */
export const EXAMPLE_KEY: Uint8Array = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

export interface RawFrame {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  opcode: number;
  payload?: Uint8Array | string;
  /** Masking key, or null for an unmasked frame. */
  mask: Uint8Array | null;
  /** Declared length when it should differ from the payload's (truncated or oversized frames). */
  length?: number;
  /** Force a length encoding (a non-minimal one, or 64-bit with the top bit set via `length64High`). */
  lengthEncoding?: 7 | 16 | 64;
  /** The high 32 bits written for a 64-bit length (defaults to the real high bits). */
  length64High?: number;
}

export function payloadBytes(payload: Uint8Array | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
}

export function encodeFrame(f: RawFrame): Buffer {
  const payload = payloadBytes(f.payload);
  const length = f.length ?? payload.length;
  const encoding = f.lengthEncoding ?? (length < 126 ? 7 : length < 65536 ? 16 : 64);
  const head: number[] = [];
  head.push(
    (f.fin === false ? 0 : 0x80) |
      (f.rsv1 ? 0x40 : 0) |
      (f.rsv2 ? 0x20 : 0) |
      (f.rsv3 ? 0x10 : 0) |
      (f.opcode & 0x0f),
  );
  const maskBit = f.mask === null ? 0 : 0x80;
  if (encoding === 7) head.push(maskBit | length);
  else if (encoding === 16) head.push(maskBit | 126, (length >> 8) & 0xff, length & 0xff);
  else {
    const high = f.length64High ?? Math.floor(length / 2 ** 32);
    const low = length % 2 ** 32;
    head.push(maskBit | 127);
    for (let shift = 24; shift >= 0; shift -= 8) head.push((high / 2 ** shift) & 0xff);
    for (let shift = 24; shift >= 0; shift -= 8) head.push((low / 2 ** shift) & 0xff);
  }
  if (f.mask !== null) head.push(...f.mask);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) {
    body[i] = f.mask === null ? payload[i]! : payload[i]! ^ f.mask[i % 4]!;
  }
  return Buffer.concat([Buffer.from(head), body]);
}

/** A frame from a client (masked with the example key) or from a server (unmasked). */
export function clientFrame(f: Omit<RawFrame, 'mask'>): Buffer {
  return encodeFrame({ ...f, mask: EXAMPLE_KEY });
}

export function serverFrame(f: Omit<RawFrame, 'mask'>): Buffer {
  return encodeFrame({ ...f, mask: null });
}

/** A frame as its peer would send it to an endpoint of `role`: masked when the receiver is a server. */
export function frameTo(role: 'client' | 'server', f: Omit<RawFrame, 'mask'>): Buffer {
  return role === 'server' ? clientFrame(f) : serverFrame(f);
}

export interface DecodedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Decode complete frames; throws if the bytes end inside a frame. */
export function decodeFrames(bytes: Uint8Array): DecodedFrame[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: DecodedFrame[] = [];
  let at = 0;
  while (at < buf.length) {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    at += 2;
    let length = b1 & 0x7f;
    if (length === 126) {
      length = buf.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = buf.readUInt32BE(at) * 2 ** 32 + buf.readUInt32BE(at + 4);
      at += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let key: Buffer | null = null;
    if (masked) {
      key = buf.subarray(at, at + 4);
      at += 4;
    }
    if (at + length > buf.length) throw new Error('decodeFrames: truncated frame');
    const payload = Buffer.alloc(length);
    for (let i = 0; i < length; i++) payload[i] = buf[at + i]! ^ (key === null ? 0 : key[i % 4]!);
    at += length;
    out.push({
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      payload,
    });
  }
  return out;
}

/** The code and reason of a close frame's payload (undefined code when the payload is empty). */
export function decodeClose(payload: Buffer): { code: number | undefined; reason: string } {
  if (payload.length < 2) return { code: undefined, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

export function closePayload(code: number, reason: Uint8Array | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, payloadBytes(reason)]);
}
