import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isValidUtf8, Utf8Validator } from '../../src/util/utf8.js';
import { cutFractions, splitAtFractions } from '../support/chunkers.js';
import { hex } from '../support/hex.js';
import { EDGE_BYTES, firstInvalidIndex, isExtendable } from '../support/utf8-reference.js';

const codePointBytes = fc
  .integer({ min: 0, max: 0x10ffff - 0x800 })
  .map((n) => (n >= 0xd800 ? n + 0x800 : n))
  .map((cp) => Buffer.from(String.fromCodePoint(cp), 'utf8'));

/** Byte strings that are often valid and, when not, break in every way UTF-8 can break. */
const mostlyUtf8 = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: codePointBytes },
      { weight: 2, arbitrary: fc.constantFrom(...EDGE_BYTES).map((b) => Buffer.of(b)) },
      // A valid sequence cut short.
      { weight: 1, arbitrary: codePointBytes.map((b) => b.subarray(0, Math.max(0, b.length - 1))) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 3 }).map((b) => Buffer.from(b)) },
    ),
    { maxLength: 40, size: 'max' },
  )
  .map((parts) => Buffer.concat(parts));

describe('Utf8Validator', () => {
  it('agrees with Buffer isUtf8 on random byte strings under random chunkings', () => {
    fc.assert(
      fc.property(mostlyUtf8, cutFractions(), (bytes, cuts) => {
        const v = new Utf8Validator();
        let ok = true;
        for (const chunk of splitAtFractions(bytes, cuts)) ok = v.push(chunk) && ok;
        assert.equal(ok && v.complete, isUtf8(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects exactly the chunk where a fatal streaming TextDecoder first throws', () => {
    fc.assert(
      fc.property(mostlyUtf8, cutFractions(), (bytes, cuts) => {
        const v = new Utf8Validator();
        const decoder = new TextDecoder('utf-8', { fatal: true });
        for (const chunk of splitAtFractions(bytes, cuts)) {
          let decoderOk = true;
          try {
            decoder.decode(chunk, { stream: true });
          } catch {
            decoderOk = false;
          }
          assert.equal(v.push(chunk), decoderOk);
          if (!decoderOk) return;
        }
        let flushOk = true;
        try {
          decoder.decode();
        } catch {
          flushOk = false;
        }
        assert.equal(v.complete, flushOk);
      }),
      { numRuns: 300 },
    );
  });

  it('fed byte by byte, returns false exactly when the prefix can no longer be extended to valid UTF-8', () => {
    fc.assert(
      fc.property(mostlyUtf8, (bytes) => {
        const v = new Utf8Validator();
        let rejectedAt = -1;
        for (let i = 0; i < bytes.length; i++) {
          const ok = v.push(bytes.subarray(i, i + 1));
          assert.equal(ok, isExtendable(bytes.subarray(0, i + 1)), `byte ${i} of ${bytes.toString('hex')}`);
          if (!ok && rejectedAt === -1) rejectedAt = i;
        }
        // Once rejected, a validator stays rejected, even for bytes that would be valid on their own.
        if (rejectedAt !== -1) assert.equal(v.push(Buffer.from('a')), false);
      }),
      { numRuns: 200 },
    );
  });

  it('takes its ASCII/native fast paths on long chunks without losing the prefix property', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 65, maxLength: 200, size: 'max' }),
        fc.constantFrom(...EDGE_BYTES),
        fc.nat(),
        (text, bad, where) => {
          const good = Buffer.from(text, 'utf8');
          const at = where % (good.length + 1);
          const bytes = Buffer.concat([good.subarray(0, at), Buffer.of(bad), good.subarray(at)]);
          const v = new Utf8Validator();
          const expectedFailure = firstInvalidIndex(bytes);
          // Two long chunks: the first one ends right before the first invalid byte when there is one.
          const cut = expectedFailure === -1 ? bytes.length : expectedFailure;
          assert.equal(v.push(bytes.subarray(0, cut)), true);
          assert.equal(v.push(bytes.subarray(cut)), expectedFailure === -1);
          assert.equal(v.complete && expectedFailure === -1, isUtf8(bytes));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('accepts the boundary code points of every sequence length', () => {
    for (const seq of [
      '00',
      '7f',
      'c2 80',
      'df bf',
      'e0 a0 80',
      'ec bf bf',
      'ed 80 80',
      'ed 9f bf',
      'ee 80 80',
      'ef bf bf',
      'f0 90 80 80',
      'f3 bf bf bf',
      'f4 80 80 80',
      'f4 8f bf bf',
    ]) {
      const v = new Utf8Validator();
      assert.equal(v.push(hex(seq)), true, seq);
      assert.equal(v.complete, true, seq);
    }
  });

  // [sequence, index of the byte at which the validator must fail]
  const invalid: Array<[string, string, number]> = [
    ['lone continuation byte', '80', 0],
    ['lone last continuation byte', 'bf', 0],
    ['overlong 2-byte NUL', 'c0 80', 0],
    ['overlong 2-byte U+007F', 'c1 bf', 0],
    ['overlong 3-byte U+007F', 'e0 81 bf', 1],
    ['overlong 3-byte U+07FF', 'e0 9f bf', 1],
    ['overlong 4-byte U+FFFF', 'f0 8f bf bf', 1],
    ['overlong 4-byte NUL', 'f0 80 80 80', 1],
    ['high surrogate U+D800', 'ed a0 80', 1],
    ['low surrogate U+DFFF', 'ed bf bf', 1],
    ['paired surrogates', 'ed a0 80 ed b0 80', 1],
    ['U+110000', 'f4 90 80 80', 1],
    ['U+13FFFF', 'f4 bf bf bf', 1],
    ['lead byte F5', 'f5 80 80 80', 0],
    ['5-byte form', 'f8 88 80 80 80', 0],
    ['6-byte form', 'fc 84 80 80 80 80', 0],
    ['FE', 'fe', 0],
    ['FF', 'ff', 0],
    ['2-byte lead followed by ASCII', 'c2 41', 1],
    ['3-byte sequence missing its last byte, then ASCII', 'e2 82 41', 2],
    ['4-byte sequence missing its last byte, then a lead byte', 'f0 9f 98 f0', 3],
    ['valid text then an invalid byte', '48 65 6c 6c 6f ff', 5],
  ];
  for (const [name, seq, at] of invalid) {
    it(`fails at byte ${at} of ${name} (${seq})`, () => {
      const bytes = hex(seq);
      assert.equal(firstInvalidIndex(bytes), at, 'the reference agrees on the index');
      const v = new Utf8Validator();
      for (let i = 0; i < at; i++) assert.equal(v.push(bytes.subarray(i, i + 1)), true, `byte ${i}`);
      assert.equal(v.push(bytes.subarray(at, at + 1)), false);
      assert.equal(v.complete, false);
      // And fed whole.
      assert.equal(new Utf8Validator().push(bytes), false);
    });
  }

  for (const seq of ['c2', 'e2', 'e2 82', 'f0', 'f0 9f', 'f0 9f 98', 'f4 8f bf']) {
    it(`accepts the truncated sequence ${seq} as a prefix but reports it incomplete`, () => {
      const v = new Utf8Validator();
      assert.equal(v.push(hex(seq)), true);
      assert.equal(v.complete, false);
    });
  }

  it('completes a code point split across pushes (€ as e2 | 82 | ac)', () => {
    const v = new Utf8Validator();
    assert.equal(v.push(hex('e2')), true);
    assert.equal(v.push(hex('82')), true);
    assert.equal(v.complete, false);
    assert.equal(v.push(hex('ac')), true);
    assert.equal(v.complete, true);
  });

  it('starts over after reset, even after a rejection', () => {
    const v = new Utf8Validator();
    assert.equal(v.push(hex('ff')), false);
    v.reset();
    assert.equal(v.push(Buffer.from('ok')), true);
    assert.equal(v.complete, true);
  });

  describe('Autobahn 6.x style vectors', () => {
    const valid: Array<[string, string]> = [
      ['6.2 "Hello-µ@ßöäüàá-UTF-8!!"', '48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121'],
      ['6.5.1 "κόσμε"', 'cebae1bdb9cf83cebcceb5'],
      ['6.6.11 "κόσμε" (again, for the fragment cases)', 'cebae1bdb9cf83cebcceb5'],
      ['6.7.x first code point of each length', '00 c2 80 e0 a0 80 f0 90 80 80'],
      ['6.8.x last code point of each length', '7f df bf ef bf bf f4 8f bf bf'],
      ['6.22 noncharacters are valid (U+FFFE, U+FFFF, U+10FFFE)', 'ef bf be ef bf bf f4 8f bf be'],
      ['6.22 noncharacters U+FDD0..U+FDEF', 'ef b7 90 ef b7 af'],
      ['6.23 U+FEFF and U+FFFD', 'ef bb bf ef bf bd'],
    ];
    for (const [name, seq] of valid) {
      it(`accepts ${name} under every two-way split`, () => {
        const bytes = hex(seq);
        for (let i = 0; i <= bytes.length; i++) {
          const v = new Utf8Validator();
          assert.equal(v.push(bytes.subarray(0, i)) && v.push(bytes.subarray(i)), true, `split at ${i}`);
          assert.equal(v.complete, true);
        }
      });
    }

    const invalidVectors: Array<[string, string]> = [
      ['6.3.1 "κόσμε" with a surrogate inside', 'cebae1bdb9cf83cebcceb5eda080656469746564'],
      ['6.4.1 PART2 is U+110000', 'cebae1bdb9cf83cebcceb5 f4908080 656469746564'],
      ['6.4.2 PART2 is F4 then PART3', 'cebae1bdb9cf83cebcceb5f4 90 8080656469746564'],
      ['6.9.x 5-byte sequences', 'f8 88 80 80 80'],
      ['6.10.x 6-byte sequences', 'fc 84 80 80 80 80'],
      ['6.12.x unexpected continuation bytes', '80 bf 80 bf'],
      ['6.13.x lonely start characters', 'c0 20 c1 20 c2 20'],
      ['6.14.x last continuation byte missing', 'c0 e0 80 f0 80 80 f8 88 80 80'],
      [
        '6.15.1 concatenation of incomplete sequences',
        'c0e080f08080f8888080fc84808080df efbf f7bfbf fbbfbfbf fdbfbfbfbf',
      ],
      ['6.16.x impossible bytes', 'fe ff fe fe ff ff'],
      ['6.17.x overlong ASCII "/"', 'c0 af'],
      ['6.17.x overlong "/" in 3 bytes', 'e0 80 af'],
      ['6.18.x maximum overlong sequences', 'c1 bf e0 9f bf f0 8f bf bf'],
      ['6.19.x overlong NUL', 'c0 80 e0 80 80'],
      ['6.20.x single UTF-16 surrogates', 'ed a0 80'],
      ['6.20.x single UTF-16 surrogate U+DB7F', 'ed ad bf'],
      ['6.21.x paired UTF-16 surrogates', 'ed a0 80 ed b0 80'],
      ['6.21.x paired UTF-16 surrogates U+DBFF U+DFFF', 'ed af bf ed bf bf'],
    ];
    for (const [name, seq] of invalidVectors) {
      it(`rejects ${name} at its first invalid byte, whole or byte by byte`, () => {
        const bytes = hex(seq);
        const at = firstInvalidIndex(bytes);
        assert.notEqual(at, -1);
        assert.equal(new Utf8Validator().push(bytes), false);
        assert.equal(isValidUtf8(bytes), false);
        const v = new Utf8Validator();
        for (let i = 0; i < bytes.length; i++) {
          assert.equal(v.push(bytes.subarray(i, i + 1)), i < at, `byte ${i}`);
        }
      });
    }
  });
});

describe('isValidUtf8', () => {
  it('agrees with a fatal TextDecoder', () => {
    fc.assert(
      fc.property(mostlyUtf8, (bytes) => {
        let expected = true;
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        } catch {
          expected = false;
        }
        assert.equal(isValidUtf8(bytes), expected);
      }),
      { numRuns: 200 },
    );
  });
});
