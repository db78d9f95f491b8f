/**
 * permessage-deflate messages made of DEFLATE blocks with no compression (RFC 1951 section 3.2.4,
 * BTYPE=00), written and read without zlib.
 *
 * RFC 7692 section 7.2.3.3 shows the form: "Hello" sent as a compressed message with no compression is
 * the payload 0x00 0x05 0x00 0xfa 0xff 0x48 0x65 0x6c 0x6c 0x6f 0x00, with RSV1 set. Each block is a
 * header byte (BFINAL=0, BTYPE=00, padding to the byte), LEN and NLEN (its one's complement), both
 * little-endian, then LEN bytes as they are; the last 0x00 begins the empty block whose LEN and NLEN
 * are the 00 00 ff ff that section 7.2.1 removes and section 7.2.2 appends again.
 *
 * Why send them: some clients assume every message is compressed once permessage-deflate is agreed
 * (libwebsockets up to at least 4.3 loops forever on an uncompressed one, its issue #2794). A stored
 * block satisfies them for the cost of a copy, where zlib would spend tens of microseconds setting up a
 * deflate state to save nothing on a short message. Only valid when the sender resets its context
 * after every message: with context takeover the peer's window would hold bytes the sender's deflater
 * never saw, and its later back-references would point at the wrong bytes.
 */

/** The most one stored block carries (LEN is 16 bits). */
const MAX_BLOCK = 0xffff;

/** The payload of a compressed message that carries `data` in stored blocks (RSV1 set by the caller). */
export function storeMessage(data: Uint8Array): Buffer {
  const size = data.length;
  const blocks = Math.ceil(size / MAX_BLOCK);
  const out = Buffer.allocUnsafe(size + blocks * 5 + 1);
  if (blocks === 1) {
    // The usual case (a short message): one block, no view of the data made.
    writeBlockHeader(out, 0, size);
    out.set(data, 5);
  } else {
    let at = 0;
    for (let from = 0; from < size; from += MAX_BLOCK) {
      const length = Math.min(MAX_BLOCK, size - from);
      writeBlockHeader(out, at, length);
      out.set(data.subarray(from, from + length), at + 5);
      at += 5 + length;
    }
  }
  out[out.length - 1] = 0x00;
  return out;
}

/** BFINAL=0 and BTYPE=00 (with the padding, one 00 byte), LEN and NLEN little-endian. */
function writeBlockHeader(out: Buffer, at: number, length: number): void {
  out[at] = 0x00;
  out[at + 1] = length & 0xff;
  out[at + 2] = length >>> 8;
  out[at + 3] = ~length & 0xff;
  out[at + 4] = (~length >>> 8) & 0xff;
}

/**
 * The message a payload of stored blocks carries, or null when the payload is anything else (any
 * compressed block, a BFINAL block, a bad NLEN, a cut block): zlib then reads it, and judges it. One
 * block, the usual case, comes back as a view of `payload`, without a copy. Only for a peer that
 * resets its context after every message (a stored block read here never reaches an inflate stream's
 * window).
 */
export function unstoreMessage(payload: Uint8Array): Buffer | null {
  const end = payload.length;
  let at = 0;
  // The first block by position (no view made unless a second block needs joining to it).
  let firstStart = -1;
  let firstLength = 0;
  let pieces: Uint8Array[] | null = null;
  let total = 0;
  for (;;) {
    // A block header at a byte boundary: BFINAL=0, BTYPE=00, padding 0 (anything else: zlib's job).
    if (at >= end || payload[at] !== 0x00) return null;
    if (at + 1 === end) break; // The empty block whose LEN and NLEN are the tail 00 00 ff ff.
    if (at + 5 > end) return null;
    const length = payload[at + 1]! | (payload[at + 2]! << 8);
    const complement = payload[at + 3]! | (payload[at + 4]! << 8);
    if ((length ^ complement) !== 0xffff || at + 5 + length > end) return null;
    if (firstStart < 0) {
      firstStart = at + 5;
      firstLength = length;
    } else {
      pieces ??= [payload.subarray(firstStart, firstStart + firstLength)];
      pieces.push(payload.subarray(at + 5, at + 5 + length));
    }
    total += length;
    at += 5 + length;
  }
  if (pieces !== null) return Buffer.concat(pieces, total);
  if (firstStart < 0) return Buffer.alloc(0);
  return Buffer.from(payload.buffer, payload.byteOffset + firstStart, firstLength);
}
