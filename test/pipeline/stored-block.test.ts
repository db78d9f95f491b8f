import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { MessageInflater } from '../../src/pipeline/inflater.js';
import { storeMessage, unstoreMessage } from '../../src/pipeline/stored-block.js';
import type { ProtocolError } from '../../src/protocol/errors.js';
import { hex } from '../support/hex.js';

/** What a receiver does (RFC 7692 section 7.2.2): append 00 00 ff ff, inflate with zlib. */
function zlibInflate(payload: Buffer): Buffer {
  return inflateRawSync(Buffer.concat([payload, hex('00 00 ff ff')]), {
    finishFlush: constants.Z_SYNC_FLUSH,
  });
}

function pattern(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

describe('stored DEFLATE blocks for permessage-deflate (RFC 7692 section 7.2.3.3)', () => {
  it('writes "Hello" as the RFC writes it', () => {
    assert.deepEqual(storeMessage(Buffer.from('Hello')), hex('00 05 00 fa ff 48 65 6c 6c 6f 00'));
  });

  it('writes the empty message as one 00 byte (an empty block whose LEN/NLEN are the tail)', () => {
    assert.deepEqual(storeMessage(Buffer.alloc(0)), hex('00'));
    assert.deepEqual(zlibInflate(hex('00')), Buffer.alloc(0));
  });

  for (const size of [1, 125, 1023, 65_535, 65_536, 200_000]) {
    it(`writes ${size} bytes that zlib inflates back, in ${Math.ceil(size / 65_535)} block(s) of 5 header bytes, and reads them back without zlib`, () => {
      const data = pattern(size);
      const payload = storeMessage(data);
      assert.equal(payload.length, size + 5 * Math.ceil(size / 65_535) + 1);
      assert.deepEqual(zlibInflate(payload), data);
      assert.deepEqual(unstoreMessage(payload), data);
    });
  }

  it('reads one block as a view of the payload, without a copy', () => {
    const payload = storeMessage(Buffer.from('no copy'));
    const out = unstoreMessage(payload)!;
    assert.equal(out.buffer, payload.buffer);
    assert.equal(out.toString(), 'no copy');
  });

  it("reads zlib's own stored output (level 0, sync flush, tail removed)", () => {
    const data = pattern(3000);
    const out = deflateRawSync(data, { level: 0, finishFlush: constants.Z_SYNC_FLUSH });
    const payload = out.subarray(0, -4);
    const read = unstoreMessage(payload);
    // zlib may end its blocks differently; when it is read here, it must be right.
    if (read !== null) assert.deepEqual(read, data);
    assert.deepEqual(zlibInflate(payload), data);
  });

  it('leaves everything else to zlib: compressed blocks, BFINAL, a wrong NLEN, a cut block, trailing bytes', () => {
    const compressed = deflateRawSync(Buffer.from('hello hello hello'), {
      finishFlush: constants.Z_SYNC_FLUSH,
    }).subarray(0, -4);
    const cases: Record<string, Buffer> = {
      compressed,
      'BFINAL=1 stored block': hex('01 05 00 fa ff 48 65 6c 6c 6f'),
      'NLEN not the complement of LEN': hex('00 05 00 fa fe 48 65 6c 6c 6f 00'),
      'a block cut short': hex('00 05 00 fa ff 48 65 6c'),
      'a header cut short': hex('00 05 00'),
      'no trailing 00': hex('00 05 00 fa ff 48 65 6c 6c 6f'),
      'a byte after the trailing 00': hex('00 05 00 fa ff 48 65 6c 6c 6f 00 00'),
      'nonzero padding bits in the header': hex('08 05 00 fa ff 48 65 6c 6c 6f 00'),
    };
    for (const [name, payload] of Object.entries(cases)) {
      assert.equal(unstoreMessage(payload), null, name);
    }
  });

  it('goes through the inflater: stored messages read back, over maxPayload fails with 1009, a bad NLEN with 1007', () => {
    const inflater = new MessageInflater({ noContextTakeover: true, maxPayload: 100 });
    assert.deepEqual(inflater.inflateSync(storeMessage(Buffer.from('Hello'))), Buffer.from('Hello'));
    assert.deepEqual(inflater.inflateSync(storeMessage(pattern(100))), pattern(100));
    assert.throws(
      () => inflater.inflateSync(storeMessage(pattern(101))),
      (e: ProtocolError) => e.closeCode === 1009,
    );
    assert.throws(
      () => inflater.inflateSync(hex('00 05 00 fa fe 48 65 6c 6c 6f 00')),
      (e: ProtocolError) => e.closeCode === 1007,
    );
    inflater.close();
  });
});
