import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  encodeClosePayload,
  headerLength,
  MERGE_THRESHOLD,
  serializeFrame,
} from '../../../src/protocol/ws/frame-writer.js';
import { decodeFrames, EXAMPLE_KEY, encodeFrame } from '../../support/frames.js';
import { hex, toHex } from '../../support/hex.js';

const HELLO = Buffer.from('Hello');

describe('serializeFrame', () => {
  // RFC 6455 section 5.7, examples.
  it('writes a single-frame unmasked text message as 81 05 "Hello"', () => {
    const out = Buffer.concat(serializeFrame({ fin: true, rsv1: false, opcode: 1, payload: HELLO }, null));
    assert.equal(toHex(out), '81 05 48 65 6c 6c 6f');
  });

  it('writes a single-frame masked text message as 81 85 37 fa 21 3d 7f 9f 4d 51 58', () => {
    const out = Buffer.concat(
      serializeFrame({ fin: true, rsv1: false, opcode: 1, payload: HELLO }, EXAMPLE_KEY),
    );
    assert.equal(toHex(out), '81 85 37 fa 21 3d 7f 9f 4d 51 58');
  });

  it('writes a fragmented unmasked text message as 01 03 "Hel" and 80 02 "lo"', () => {
    const first = serializeFrame({ fin: false, rsv1: false, opcode: 1, payload: Buffer.from('Hel') }, null);
    const last = serializeFrame({ fin: true, rsv1: false, opcode: 0, payload: Buffer.from('lo') }, null);
    assert.equal(toHex(Buffer.concat([...first, ...last])), '01 03 48 65 6c 80 02 6c 6f');
  });

  it('writes an unmasked ping as 89 05 "Hello" and a masked pong as 8a 85 37 fa 21 3d 7f 9f 4d 51 58', () => {
    const ping = serializeFrame({ fin: true, rsv1: false, opcode: 9, payload: HELLO }, null);
    assert.equal(toHex(Buffer.concat(ping)), '89 05 48 65 6c 6c 6f');
    const pong = serializeFrame({ fin: true, rsv1: false, opcode: 10, payload: HELLO }, EXAMPLE_KEY);
    assert.equal(toHex(Buffer.concat(pong)), '8a 85 37 fa 21 3d 7f 9f 4d 51 58');
  });

  it('uses a 16-bit length for 256 bytes (82 7e 01 00) and a 64-bit length for 65536 (82 7f 00..01 00 00)', () => {
    const b256 = Buffer.concat(
      serializeFrame({ fin: true, rsv1: false, opcode: 2, payload: Buffer.alloc(256) }, null),
    );
    assert.deepEqual(b256.subarray(0, 4), hex('82 7e 01 00'));
    assert.equal(b256.length, 4 + 256);
    const b64k = Buffer.concat(
      serializeFrame({ fin: true, rsv1: false, opcode: 2, payload: Buffer.alloc(65536) }, null),
    );
    assert.deepEqual(b64k.subarray(0, 10), hex('82 7f 00 00 00 00 00 01 00 00'));
    assert.equal(b64k.length, 10 + 65536);
  });

  it('sets RSV1 when asked (permessage-deflate) and never RSV2/RSV3', () => {
    const out = Buffer.concat(serializeFrame({ fin: true, rsv1: true, opcode: 1, payload: HELLO }, null));
    assert.equal(out[0], 0xc1);
  });

  it('uses the smallest length encoding at the 125/126 and 65535/65536 boundaries', () => {
    for (const [length, masked, expected] of [
      [0, false, 2],
      [125, false, 2],
      [126, false, 4],
      [65535, false, 4],
      [65536, false, 10],
      [125, true, 6],
      [126, true, 8],
      [65536, true, 14],
    ] as const) {
      assert.equal(headerLength(length, masked), expected, `${length} masked=${masked}`);
      const key = masked ? EXAMPLE_KEY : null;
      const out = Buffer.concat(
        serializeFrame({ fin: true, rsv1: false, opcode: 2, payload: Buffer.alloc(length) }, key),
      );
      assert.equal(out.length, expected + length);
    }
  });

  it('agrees byte for byte with an independent encoder for random frames, masked or not', () => {
    const sizes = fc.oneof(
      fc.integer({ min: 0, max: 300 }),
      fc.constantFrom(125, 126, 127, 1023, 1024, 1025, 65535, 65536),
    );
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(0, 1, 2, 8, 9, 10),
        sizes,
        fc.option(fc.uint8Array({ minLength: 4, maxLength: 4 }), { nil: null }),
        fc.integer({ min: 0, max: 255 }),
        (fin, rsv1, opcode, size, mask, fill) => {
          const payload = Buffer.alloc(size, fill);
          for (let i = 0; i < size; i += 7) payload[i] = i & 0xff;
          const before = Buffer.from(payload);
          const out = Buffer.concat(serializeFrame({ fin, rsv1, opcode, payload }, mask));
          assert.deepEqual(out, encodeFrame({ fin, rsv1, opcode, payload: before, mask }));
          assert.deepEqual(payload, before, 'masking never touches the caller payload');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('merges a small unmasked payload with its header into one buffer', () => {
    const out = serializeFrame(
      { fin: true, rsv1: false, opcode: 2, payload: Buffer.alloc(MERGE_THRESHOLD) },
      null,
    );
    assert.equal(out.length, 1);
  });

  it('shares a large unmasked payload without copying it, Buffer or plain Uint8Array view', () => {
    const buffer = Buffer.alloc(MERGE_THRESHOLD + 1, 1);
    const [head, body] = serializeFrame({ fin: true, rsv1: false, opcode: 2, payload: buffer }, null);
    assert.ok(head !== undefined && body !== undefined);
    assert.equal(body, buffer);
    const backing = new ArrayBuffer(5000);
    const view = new Uint8Array(backing, 100, 4000);
    const parts = serializeFrame({ fin: true, rsv1: false, opcode: 2, payload: view }, null);
    assert.equal(parts.length, 2);
    assert.equal(parts[1]!.buffer, backing);
    assert.equal(parts[1]!.byteOffset, 100);
    assert.equal(parts[1]!.length, 4000);
    const [frame] = decodeFrames(Buffer.concat(parts));
    assert.equal(frame!.payload.length, 4000);
  });

  it('copies a masked payload into one new buffer (the caller may reuse its payload)', () => {
    const payload = Buffer.alloc(5000, 7);
    const parts = serializeFrame({ fin: true, rsv1: false, opcode: 2, payload }, EXAMPLE_KEY);
    assert.equal(parts.length, 1);
    assert.notEqual(parts[0]!.buffer, payload.buffer);
    assert.deepEqual(decodeFrames(parts[0]!)[0]!.payload, payload);
  });
});

describe('encodeClosePayload', () => {
  it('writes the code in network byte order followed by the UTF-8 reason', () => {
    assert.equal(toHex(encodeClosePayload(1000, 'bye')), '03 e8 62 79 65');
    assert.equal(toHex(encodeClosePayload(4999, 'é')), '13 87 c3 a9');
    assert.equal(toHex(encodeClosePayload(1001, Uint8Array.of(0x41))), '03 e9 41');
  });

  it('gives an empty payload when there is no code', () => {
    assert.equal(encodeClosePayload(undefined).length, 0);
  });
});
