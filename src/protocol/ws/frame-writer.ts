/**
 * Frame serialization (RFC 6455 section 5.2), both roles. A server frame is a header plus the caller's
 * payload, untouched (written with writev, or merged when small so one write carries both); a client
 * frame is masked into a new buffer with the key the caller supplies (section 5.3: a fresh, unpredictable
 * key per frame, which the adapter draws from a crypto-random pool).
 */
import { maskInto } from '../../util/mask.js';

/** Payloads up to this size are copied next to their header so the frame goes out as one buffer. */
export const MERGE_THRESHOLD = 1024;

export interface OutgoingFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Uint8Array;
}

export function headerLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

function writeHeader(target: Buffer, frame: OutgoingFrame, maskKey: Uint8Array | null): number {
  const length = frame.payload.length;
  target[0] = (frame.fin ? 0x80 : 0) | (frame.rsv1 ? 0x40 : 0) | frame.opcode;
  const maskBit = maskKey === null ? 0 : 0x80;
  let at: number;
  if (length < 126) {
    target[1] = maskBit | length;
    at = 2;
  } else if (length < 0x10000) {
    target[1] = maskBit | 126;
    target[2] = length >>> 8;
    target[3] = length & 0xff;
    at = 4;
  } else {
    target[1] = maskBit | 127;
    target.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    target.writeUInt32BE(length >>> 0, 6);
    at = 10;
  }
  if (maskKey !== null) {
    target[at] = maskKey[0]!;
    target[at + 1] = maskKey[1]!;
    target[at + 2] = maskKey[2]!;
    target[at + 3] = maskKey[3]!;
    at += 4;
  }
  return at;
}

/**
 * Serialize one frame. Returns one buffer (small payloads, or any masked frame) or two (an unmasked
 * header and the caller's payload, shared without a copy).
 */
export function serializeFrame(frame: OutgoingFrame, maskKey: Uint8Array | null): Buffer[] {
  const length = frame.payload.length;
  const headLength = headerLength(length, maskKey !== null);
  if (maskKey !== null) {
    const out = Buffer.allocUnsafe(headLength + length);
    const at = writeHeader(out, frame, maskKey);
    maskInto(frame.payload, maskKey, out, at);
    return [out];
  }
  if (length <= MERGE_THRESHOLD) {
    const out = Buffer.allocUnsafe(headLength + length);
    const at = writeHeader(out, frame, null);
    out.set(frame.payload, at);
    return [out];
  }
  const head = Buffer.allocUnsafe(headLength);
  writeHeader(head, frame, null);
  const payload = Buffer.isBuffer(frame.payload)
    ? frame.payload
    : Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength);
  return [head, payload];
}

/**
 * Encode a close frame payload (section 5.5.1): a 2-byte code in network order and an optional UTF-8
 * reason. An absent code gives an empty payload.
 */
export function encodeClosePayload(code: number | undefined, reason: string | Uint8Array = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const reasonBytes = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason;
  const out = Buffer.allocUnsafe(2 + reasonBytes.length);
  out.writeUInt16BE(code, 0);
  out.set(reasonBytes, 2);
  return out;
}
