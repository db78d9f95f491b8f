import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ProtocolError } from '../../../src/protocol/errors.js';
import { type FrameHeader, FrameParser, type FrameSink } from '../../../src/protocol/ws/frame-parser.js';
import { serializeFrame } from '../../../src/protocol/ws/frame-writer.js';
import {
  byteByByte,
  cutFractions,
  everySplit,
  ownCopy,
  randomChunks,
  splitAtFractions,
} from '../../support/chunkers.js';
import { clientFrame, EXAMPLE_KEY, encodeFrame, serverFrame } from '../../support/frames.js';
import { hex } from '../../support/hex.js';
import { Rng } from '../../support/random.js';

interface ParsedFrame {
  header: FrameHeader;
  pieces: Buffer[];
  ended: boolean;
}

class RecordingSink implements FrameSink {
  readonly frames: ParsedFrame[] = [];
  readonly errors: ProtocolError[] = [];
  frameStart(header: FrameHeader): void {
    this.frames.push({ header, pieces: [], ended: false });
  }
  framePayload(piece: Buffer): void {
    this.frames.at(-1)!.pieces.push(piece);
  }
  frameEnd(): void {
    this.frames.at(-1)!.ended = true;
  }
  parseError(error: ProtocolError): void {
    this.errors.push(error);
  }
  payloads(): Buffer[] {
    return this.frames.map((f) => Buffer.concat(f.pieces));
  }
}

function parse(chunks: Buffer[]): { sink: RecordingSink; parser: FrameParser } {
  const sink = new RecordingSink();
  const parser = new FrameParser(sink);
  for (const chunk of chunks) parser.push(chunk);
  return { sink, parser };
}

interface FrameSpec {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  size: number;
  seed: number;
}

/** Payload sizes around every length-encoding boundary, plus a spread up to 70000. */
const payloadSize = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 200 }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 125, 126, 127, 65535, 65536, 65537) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 70000 }) },
);

const frameSpec: fc.Arbitrary<FrameSpec> = fc.record({
  fin: fc.boolean(),
  rsv1: fc.boolean(),
  opcode: fc.constantFrom(0, 1, 2, 8, 9, 10),
  size: payloadSize,
  seed: fc.integer(),
});

function payloadOf(spec: FrameSpec): Buffer {
  return new Rng(spec.seed).bytes(spec.size);
}

function checkFrames(sink: RecordingSink, specs: FrameSpec[], masked: boolean): void {
  assert.equal(sink.errors.length, 0);
  assert.equal(sink.frames.length, specs.length);
  specs.forEach((spec, i) => {
    const frame = sink.frames[i]!;
    assert.deepEqual(frame.header, {
      fin: spec.fin,
      rsv1: spec.rsv1,
      rsv2: false,
      rsv3: false,
      opcode: spec.opcode,
      masked,
      length: spec.size,
    });
    assert.ok(frame.ended, `frame ${i} ended`);
    assert.ok(Buffer.concat(frame.pieces).equals(payloadOf(spec)), `payload of frame ${i}`);
  });
}

describe('FrameParser', () => {
  it('parses the RFC 6455 section 5.7 examples', () => {
    const { sink } = parse([
      hex('81 05 48 65 6c 6c 6f'),
      hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'),
      hex('01 03 48 65 6c 80 02 6c 6f'),
      hex('89 05 48 65 6c 6c 6f'),
      hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'),
    ]);
    assert.deepEqual(
      sink.frames.map((f) => [
        f.header.opcode,
        f.header.fin,
        f.header.masked,
        Buffer.concat(f.pieces).toString(),
      ]),
      [
        [1, true, false, 'Hello'],
        [1, true, true, 'Hello'],
        [1, false, false, 'Hel'],
        [0, true, false, 'lo'],
        [9, true, false, 'Hello'],
        [10, true, true, 'Hello'],
      ],
    );
  });

  it('reads 16-bit (7e 01 00) and 64-bit (7f 00 00 00 00 00 01 00 00) lengths', () => {
    const { sink } = parse([
      Buffer.concat([hex('82 7e 01 00'), Buffer.alloc(256, 1)]),
      Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), Buffer.alloc(65536, 2)]),
    ]);
    assert.deepEqual(
      sink.frames.map((f) => f.header.length),
      [256, 65536],
    );
    assert.deepEqual(
      sink.payloads().map((p) => p.length),
      [256, 65536],
    );
  });

  it('accepts a non-minimal length encoding (the minimal-encoding rule binds senders)', () => {
    const { sink } = parse([encodeFrame({ opcode: 2, payload: 'ab', mask: null, lengthEncoding: 64 })]);
    assert.equal(sink.errors.length, 0);
    assert.equal(sink.payloads()[0]!.toString(), 'ab');
  });

  it('gives every frame back identical under random chunking, whichever role serialized it', () => {
    fc.assert(
      fc.property(
        fc.array(frameSpec, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.integer(),
        cutFractions(),
        (specs, masked, maskSeed, cuts) => {
          const rng = new Rng(maskSeed);
          const wire = Buffer.concat(
            specs.flatMap((s) =>
              serializeFrame(
                { fin: s.fin, rsv1: s.rsv1, opcode: s.opcode, payload: payloadOf(s) },
                masked ? rng.bytes(4) : null,
              ),
            ),
          );
          const { sink, parser } = parse(splitAtFractions(wire, cuts));
          checkFrames(sink, specs, masked);
          assert.equal(parser.pendingBytes, 0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('gives every frame back identical when fed one byte at a time', () => {
    const smallSpec = fc.record({
      fin: fc.boolean(),
      rsv1: fc.boolean(),
      opcode: fc.constantFrom(0, 1, 2, 8, 9, 10),
      size: fc.oneof(fc.integer({ min: 0, max: 140 }), fc.constantFrom(125, 126, 127, 300)),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(fc.array(smallSpec, { minLength: 1, maxLength: 5 }), fc.boolean(), (specs, masked) => {
        const wire = Buffer.concat(
          specs.flatMap((s) =>
            serializeFrame(
              { fin: s.fin, rsv1: s.rsv1, opcode: s.opcode, payload: payloadOf(s) },
              masked ? EXAMPLE_KEY : null,
            ),
          ),
        );
        const { sink } = parse(byteByByte(wire));
        checkFrames(sink, specs, masked);
      }),
      { numRuns: 100 },
    );
  });

  it('parses 65535-, 65536- and 65537-byte masked frames fed one byte at a time', () => {
    const specs: FrameSpec[] = [65535, 65536, 65537].map((size, i) => ({
      fin: true,
      rsv1: false,
      opcode: 2,
      size,
      seed: i,
    }));
    const wire = Buffer.concat(
      specs.flatMap((s) =>
        serializeFrame({ fin: true, rsv1: false, opcode: 2, payload: payloadOf(s) }, EXAMPLE_KEY),
      ),
    );
    const { sink } = parse(byteByByte(wire));
    checkFrames(sink, specs, true);
  });

  it('parses a frame cut in two at every position, header and mask key included', () => {
    const wire = Buffer.concat([
      clientFrame({ opcode: 1, payload: 'Hello, world' }),
      clientFrame({ opcode: 2, payload: Buffer.alloc(130, 3) }),
    ]);
    for (const [a, b] of everySplit(wire)) {
      const { sink } = parse([a, b]);
      assert.deepEqual(
        sink.payloads().map((p) => p.toString('hex')),
        [Buffer.from('Hello, world').toString('hex'), Buffer.alloc(130, 3).toString('hex')],
        `split at ${a.length}`,
      );
    }
  });

  it('delivers a payload that arrives whole as a view of the input chunk, without copying', () => {
    for (const masked of [false, true]) {
      const frame = encodeFrame({
        opcode: 2,
        payload: Buffer.alloc(3000, 9),
        mask: masked ? EXAMPLE_KEY : null,
      });
      const chunk = ownCopy(Buffer.concat([frame, frame]));
      const { sink } = parse([chunk]);
      assert.equal(sink.frames.length, 2);
      for (const f of sink.frames) {
        assert.equal(f.pieces.length, 1);
        assert.equal(f.pieces[0]!.buffer, chunk.buffer, 'same ArrayBuffer as the chunk');
        assert.ok(f.pieces[0]!.equals(Buffer.alloc(3000, 9)));
      }
      assert.equal(sink.frames[0]!.pieces[0]!.byteOffset, chunk.byteOffset + frame.length - 3000);
    }
  });

  it('hands a payload that arrives in pieces on as views of the received chunks, copying nothing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), fc.integer(), (size, seed) => {
        const rng = new Rng(seed);
        const payload = rng.bytes(size);
        const chunks = randomChunks(clientFrame({ opcode: 2, payload }), rng, 300).map((c) => ownCopy(c));
        const { sink } = parse(chunks);
        const pieces = sink.frames[0]!.pieces;
        // Each piece is handed on as soon as its read arrives (so text can be validated early), as a
        // view into the chunk it came in: nothing allocated from the declared length.
        assert.ok(pieces.length >= 1);
        for (const piece of pieces) {
          assert.ok(
            chunks.some((c) => c.buffer === piece.buffer),
            'each piece is a view of a received chunk',
          );
        }
        assert.ok(Buffer.concat(pieces).equals(payload));
      }),
      { numRuns: 100 },
    );
  });

  it('allocates nothing for a header that declares 16 MiB followed by one byte', () => {
    const frame = clientFrame({ opcode: 2, payload: Buffer.alloc(16 * 1024 * 1024, 1) });
    const head = ownCopy(frame.subarray(0, 15));
    const { sink } = parse([head]);
    const pieces = sink.frames[0]!.pieces;
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0]!.length, 1);
    assert.equal(pieces[0]!.buffer, head.buffer, 'the one byte is a view of the 15 bytes received');
  });

  it('keeps a partial header as pending bytes until the rest arrives', () => {
    const sink = new RecordingSink();
    const parser = new FrameParser(sink);
    const frame = serverFrame({ opcode: 2, payload: Buffer.alloc(300) });
    parser.push(frame.subarray(0, 1));
    assert.equal(parser.pendingBytes, 1);
    parser.push(frame.subarray(1, 3));
    // The first two bytes are parsed; one of the two 16-bit length bytes waits for the other.
    assert.equal(parser.pendingBytes, 1);
    assert.equal(sink.frames.length, 0);
    parser.push(frame.subarray(3));
    assert.equal(parser.pendingBytes, 0);
    assert.equal(sink.frames[0]!.header.length, 300);
  });

  it('fails with 1002 on a 64-bit length with its most significant bit set', () => {
    for (const masked of [false, true]) {
      const frame = encodeFrame({
        opcode: 2,
        mask: masked ? EXAMPLE_KEY : null,
        length: 1,
        lengthEncoding: 64,
        length64High: 0x80000000,
      });
      for (const chunks of [[frame], byteByByte(frame)]) {
        const { sink, parser } = parse(chunks);
        assert.equal(sink.errors.length, 1);
        assert.equal(sink.errors[0]!.closeCode, 1002);
        assert.equal(sink.errors[0]!.code, 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH');
        assert.equal(sink.frames.length, 0);
        assert.ok(parser.halted);
      }
    }
  });

  it('fails with 1009 on a 64-bit length beyond 2^53 - 1 that it cannot represent', () => {
    const frame = encodeFrame({
      opcode: 2,
      mask: null,
      length: 0,
      lengthEncoding: 64,
      length64High: 0x00200000,
    });
    const { sink } = parse([frame]);
    assert.equal(sink.errors[0]!.closeCode, 1009);
    assert.equal(sink.frames.length, 0);
  });

  it('reports a 2^53 - 1 byte length from the header alone', () => {
    const frame = encodeFrame({ opcode: 2, mask: null, length: 2 ** 53 - 1, lengthEncoding: 64 });
    const { sink } = parse([frame]);
    assert.equal(sink.errors.length, 0);
    assert.equal(sink.frames[0]!.header.length, 2 ** 53 - 1);
  });

  it('ignores everything after halt(), and stops when the sink halts it mid-chunk', () => {
    const sink = new RecordingSink();
    const parser = new FrameParser({
      frameStart: (h) => {
        sink.frameStart(h);
        if (h.opcode === 8) parser.halt();
      },
      framePayload: (p) => sink.framePayload(p),
      frameEnd: () => sink.frameEnd(),
      parseError: (e) => sink.parseError(e),
    });
    parser.push(
      Buffer.concat([
        serverFrame({ opcode: 1, payload: 'a' }),
        serverFrame({ opcode: 8 }),
        serverFrame({ opcode: 1 }),
      ]),
    );
    parser.push(serverFrame({ opcode: 1, payload: 'late' }));
    assert.deepEqual(
      sink.frames.map((f) => f.header.opcode),
      [1, 8],
    );
    assert.ok(parser.halted);
    assert.equal(parser.pendingBytes, 0);
  });

  it('reports RSV2, RSV3 and reserved opcodes as they are (the connection judges them)', () => {
    const { sink } = parse([serverFrame({ opcode: 0xb, rsv2: true, rsv3: true, payload: 'x' })]);
    assert.equal(sink.errors.length, 0);
    assert.deepEqual(
      { ...sink.frames[0]!.header },
      { fin: true, rsv1: false, rsv2: true, rsv3: true, opcode: 0xb, masked: false, length: 1 },
    );
  });
});
