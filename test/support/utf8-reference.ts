/**
 * A reference for "can this prefix still become valid UTF-8?", built on Node's native isUtf8 and not on
 * the validator under test: an open sequence misses at most 3 bytes, and whatever lead byte opened it,
 * one of 80, 90 or A0 is an allowed next byte and 80 is allowed after that.
 */
import { isUtf8 } from 'node:buffer';

export function isExtendable(prefix: Uint8Array): boolean {
  if (isUtf8(prefix)) return true;
  for (let missing = 1; missing <= 3; missing++) {
    for (const first of [0x80, 0x90, 0xa0]) {
      const candidate = Buffer.alloc(prefix.length + missing, 0x80);
      candidate.set(prefix);
      candidate[prefix.length] = first;
      if (isUtf8(candidate)) return true;
    }
  }
  return false;
}

/** Index of the first byte after which the prefix can no longer become valid UTF-8, or -1. */
export function firstInvalidIndex(bytes: Uint8Array): number {
  // Bisect: extendability of prefixes is monotone (once lost, never regained).
  if (isExtendable(bytes)) return -1;
  let lo = 0;
  let hi = bytes.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (isExtendable(bytes.subarray(0, mid + 1))) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Bytes a decoder trips on, plus bytes right at the edges of the ranges of Unicode Table 3-7. */
export const EDGE_BYTES: readonly number[] = [
  0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef,
  0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfb, 0xfc, 0xfe, 0xff,
];
