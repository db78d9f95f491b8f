/**
 * Crypto-random bytes for masking keys and handshake keys, drawn from a pool refilled with
 * randomFillSync: one system call per 2,048 masks instead of one per frame. RFC 6455 section 5.3: the
 * masking key MUST be a fresh, unpredictable 32-bit value for every frame.
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function take(n: number): Buffer {
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  // A copy, so a later refill never changes a key someone still holds.
  const out = Buffer.allocUnsafe(n);
  pool.copy(out, 0, offset, offset + n);
  offset += n;
  return out;
}

/** A fresh 4-byte masking key. */
export function randomMask(): Uint8Array {
  return take(4);
}

/** 16 random bytes for Sec-WebSocket-Key. */
export function random16(): Uint8Array {
  return take(16);
}
