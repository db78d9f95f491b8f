/**
 * Incremental UTF-8 validation that fails on the first invalid byte, even when a code point is split
 * across chunks or frames (RFC 6455 section 8.1: an endpoint MUST fail the connection on invalid UTF-8).
 *
 * The automaton follows the well-formed byte sequences of Unicode Table 3-7, so overlong forms,
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF are rejected at the byte that makes them so.
 */
import { isUtf8 } from 'node:buffer';

const enum S {
  Accept = 0,
  /** Expect one more continuation byte 80..BF. */
  Tail1 = 1,
  /** Expect two more continuation bytes. */
  Tail2 = 2,
  /** Expect three more continuation bytes. */
  Tail3 = 3,
  /** After E0: next byte A0..BF, then one more. */
  E0 = 4,
  /** After ED: next byte 80..9F, then one more. */
  ED = 5,
  /** After F0: next byte 90..BF, then two more. */
  F0 = 6,
  /** After F4: next byte 80..8F, then two more. */
  F4 = 7,
  Reject = 8,
}

export class Utf8Validator {
  private state: S = S.Accept;

  /** Feed bytes; returns false as soon as the bytes so far cannot be a prefix of valid UTF-8. */
  push(bytes: Uint8Array): boolean {
    let state = this.state;
    if (state === S.Reject) return false;
    const n = bytes.length;
    let i = 0;
    if (state === S.Accept && n > 64 && isUtf8(bytes)) return true;
    while (i < n) {
      if (state === S.Accept) {
        // ASCII fast path, 1 byte at a time but without the switch.
        while (i < n && bytes[i]! < 0x80) i++;
        if (i === n) break;
      }
      const b = bytes[i++]!;
      switch (state) {
        case S.Accept:
          if (b >= 0xc2 && b <= 0xdf) state = S.Tail1;
          else if (b === 0xe0) state = S.E0;
          else if (b === 0xed) state = S.ED;
          else if (b >= 0xe1 && b <= 0xef) state = S.Tail2;
          else if (b === 0xf0) state = S.F0;
          else if (b >= 0xf1 && b <= 0xf3) state = S.Tail3;
          else if (b === 0xf4) state = S.F4;
          else state = S.Reject;
          break;
        case S.Tail1:
          state = (b & 0xc0) === 0x80 ? S.Accept : S.Reject;
          break;
        case S.Tail2:
          state = (b & 0xc0) === 0x80 ? S.Tail1 : S.Reject;
          break;
        case S.Tail3:
          state = (b & 0xc0) === 0x80 ? S.Tail2 : S.Reject;
          break;
        case S.E0:
          state = b >= 0xa0 && b <= 0xbf ? S.Tail1 : S.Reject;
          break;
        case S.ED:
          state = b >= 0x80 && b <= 0x9f ? S.Tail1 : S.Reject;
          break;
        case S.F0:
          state = b >= 0x90 && b <= 0xbf ? S.Tail2 : S.Reject;
          break;
        case S.F4:
          state = b >= 0x80 && b <= 0x8f ? S.Tail2 : S.Reject;
          break;
        default:
          state = S.Reject;
      }
      if (state === S.Reject) {
        this.state = S.Reject;
        return false;
      }
    }
    this.state = state;
    return true;
  }

  /** True when everything pushed so far forms complete, valid UTF-8 (no code point left open). */
  get complete(): boolean {
    return this.state === S.Accept;
  }

  reset(): void {
    this.state = S.Accept;
  }
}

/** Whole-buffer validation (native in Node >= 18.14). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
