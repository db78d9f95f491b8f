import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constants, createInflateRaw, inflateRawSync } from 'node:zlib';
import { MessageDeflater } from '../../src/pipeline/deflater.js';
import { zlibLimiter } from '../../src/pipeline/zlib-limiter.js';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Inflate one message compressed on its own (RFC 7692 section 7.2.2: append the tail first). */
function inflateAlone(data: Buffer): Buffer {
  return inflateRawSync(Buffer.concat([data, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH });
}

function compress(deflater: MessageDeflater, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    deflater.compress(data, (e, out) => (e ? reject(e) : resolve(out!))),
  );
}

const json = (i: number) =>
  Buffer.from(JSON.stringify({ id: i, user: `user${i}`, text: 'hello world '.repeat(20), ok: true }));

describe('MessageDeflater (RFC 7692 section 7.2.1)', () => {
  it('compresses small messages synchronously without context takeover, tail removed', () => {
    const deflater = new MessageDeflater({ windowBits: 15, noContextTakeover: true });
    const message = json(1);
    assert.ok(deflater.canCompressSync(message.length));
    const out = deflater.compressSync(message);
    assert.notDeepEqual([...out.subarray(-4)], [...TAIL]);
    assert.ok(out.length < message.length);
    assert.deepEqual(inflateAlone(out), message);
    assert.equal(deflater.statelessKey, '15:-1:8');
  });

  it('sends large messages to the thread pool, each still decodable on its own', async () => {
    const deflater = new MessageDeflater({ windowBits: 12, noContextTakeover: true, syncLimit: 1024 });
    const big = Buffer.alloc(300_000, 'abcdefghij');
    assert.equal(deflater.canCompressSync(big.length), false);
    const out = await compress(deflater, big);
    assert.deepEqual(inflateAlone(out), big);
    assert.deepEqual(zlibLimiter.stats, { active: 0, waiting: 0 });
  });

  it('keeps its context between messages in dedicated mode, so repeats shrink', async () => {
    const deflater = new MessageDeflater({ windowBits: 15, noContextTakeover: false });
    assert.equal(deflater.canCompressSync(10), false);
    assert.equal(deflater.statelessKey, null);
    const inflate = createInflateRaw();
    const received: Buffer[] = [];
    inflate.on('data', (c: Buffer) => received.push(c));
    const a = await compress(deflater, json(1));
    const b = await compress(deflater, json(1));
    assert.ok(b.length < a.length / 4, `second copy ${b.length} bytes vs first ${a.length}`);
    for (const m of [a, b]) {
      inflate.write(Buffer.concat([m, TAIL]));
      await new Promise<void>((resolve) => inflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    }
    assert.equal(Buffer.concat(received).toString(), json(1).toString() + json(1).toString());
    inflate.close();
    deflater.close();
  });

  it('fails a message in progress on close and releases its limiter slot', async () => {
    const deflater = new MessageDeflater({ windowBits: 15, noContextTakeover: false });
    const result = compress(deflater, Buffer.alloc(4 << 20, 'x'));
    deflater.close();
    await assert.rejects(result, /closed/);
    await compress(deflater, Buffer.from('late')).then(
      () => assert.fail('a closed deflater must refuse'),
      (error: Error) => assert.match(error.message, /closed/),
    );
    assert.deepEqual(zlibLimiter.stats, { active: 0, waiting: 0 });
  });

  it('sends an empty message in dedicated mode as one empty stored block, the context intact', async () => {
    const deflater = new MessageDeflater({ windowBits: 15, noContextTakeover: false });
    const inflate = createInflateRaw();
    const received: Buffer[] = [];
    inflate.on('data', (c: Buffer) => received.push(c));
    const messages = [json(2), Buffer.alloc(0), json(2), Buffer.alloc(0), Buffer.alloc(0), json(3)];
    for (const m of messages) {
      const out = await compress(deflater, m);
      assert.ok(out.length > 0, 'never an empty payload (7.2.1 always yields at least one byte)');
      inflate.write(Buffer.concat([out, TAIL]));
      await new Promise<void>((resolve) => inflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    }
    assert.equal(Buffer.concat(received).toString(), Buffer.concat(messages).toString());
    inflate.close();
    deflater.close();
  });

  it('compresses the empty message to something that inflates to nothing', () => {
    const deflater = new MessageDeflater({ windowBits: 15, noContextTakeover: true });
    assert.equal(inflateAlone(deflater.compressSync(Buffer.alloc(0))).length, 0);
  });
});
