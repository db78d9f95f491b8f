import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constants, createDeflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import { MessageInflater } from '../../src/pipeline/inflater.js';
import type { ProtocolError } from '../../src/protocol/errors.js';

/** Compress one message the RFC 7692 way: raw DEFLATE, sync flush, trailing 00 00 ff ff removed. */
function compressAlone(data: Buffer): Buffer {
  const out = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  assert.deepEqual([...out.subarray(-4)], [0, 0, 0xff, 0xff]);
  return out.subarray(0, -4);
}

/** A compressor that keeps its context between messages (context takeover). */
function contextCompressor(): (data: Buffer) => Promise<Buffer> {
  const stream = createDeflateRaw();
  return (data) =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const onData = (c: Buffer) => chunks.push(c);
      stream.on('data', onData);
      stream.write(data);
      stream.flush(constants.Z_SYNC_FLUSH, () => {
        stream.off('data', onData);
        resolve(Buffer.concat(chunks).subarray(0, -4));
      });
    });
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

function inflate(inflater: MessageInflater, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    inflater.inflate(data, (e, out) => (e ? reject(e) : resolve(out!))),
  );
}

describe('MessageInflater (RFC 7692 section 7.2.2)', () => {
  it('inflates messages compressed without context takeover, each on its own', async () => {
    const inflater = new MessageInflater({ noContextTakeover: true, maxPayload: 1 << 20 });
    for (const text of ['hello', 'héllo wörld '.repeat(100), '']) {
      const out = await inflate(inflater, compressAlone(Buffer.from(text)));
      assert.equal(out.toString(), text);
    }
  });

  it('keeps its context between messages when the peer takes context over', async () => {
    const compress = contextCompressor();
    const inflater = new MessageInflater({ noContextTakeover: false, maxPayload: 1 << 20 });
    const first = '{"symbol":"ACME","price":101.25,"volume":1200}';
    const second = '{"symbol":"ACME","price":101.30,"volume":1300}';
    const a = await compress(Buffer.from(first));
    const b = await compress(Buffer.from(second));
    assert.ok(b.length < a.length, 'the second message refers back to the first');
    assert.equal((await inflate(inflater, a)).toString(), first);
    assert.equal((await inflate(inflater, b)).toString(), second);
  });

  it('goes on after a message that ends with a BFINAL=1 block, the window kept (RFC 7692 7.2.3.4)', async () => {
    // A peer that flushes by ending the DEFLATE stream (BFINAL=1) with context takeover: each message
    // is a new stream whose dictionary is everything sent before (the last 32 KiB of it).
    let sent = Buffer.alloc(0);
    const finalBlock = (data: Buffer): Buffer => {
      const out = deflateRawSync(data, { dictionary: sent.subarray(-32768) });
      sent = Buffer.concat([sent, data]);
      return out;
    };
    const inflater = new MessageInflater({ noContextTakeover: false, maxPayload: 1 << 20 });
    const messages = [
      Buffer.from('Hello'),
      Buffer.from('{"symbol":"ACME","price":101.25} '.repeat(40)),
      Buffer.from('{"symbol":"ACME","price":101.25} '.repeat(40)),
      Buffer.alloc(40_000, 'xyz'),
      Buffer.from('Hello again, {"symbol":"ACME"}'),
    ];
    const compressed = messages.map(finalBlock);
    assert.ok(compressed[2]!.length < 20, 'the third message refers back into the second');
    for (const [i, data] of compressed.entries()) {
      assert.deepEqual(await inflate(inflater, data), messages[i], `message ${i}`);
    }
  });

  it('takes an empty compressed payload as an empty message, the context intact', async () => {
    // 7.2.1 never produces an empty payload, but a peer may send one: fed to zlib with the tail it
    // would open a stored block and garble what follows.
    const compress = contextCompressor();
    const inflater = new MessageInflater({ noContextTakeover: false, maxPayload: 1 << 20 });
    const text = '{"symbol":"ACME","price":101.25,"volume":1200}';
    assert.equal((await inflate(inflater, await compress(Buffer.from(text)))).toString(), text);
    assert.equal((await inflate(inflater, Buffer.alloc(0))).length, 0);
    assert.equal((await inflate(inflater, await compress(Buffer.from(text)))).toString(), text);
    const stateless = new MessageInflater({ noContextTakeover: true, maxPayload: 1 << 20 });
    assert.equal(stateless.inflateSync(Buffer.alloc(0)).length, 0);
  });

  it('delivers results in submission order, whatever their sizes', async () => {
    const inflater = new MessageInflater({ noContextTakeover: true, maxPayload: 64 << 20 });
    const big = Buffer.alloc(8 << 20, 'abcdefgh');
    const order: string[] = [];
    await Promise.all([
      inflate(inflater, compressAlone(big)).then((out) => order.push(`big:${out.equals(big)}`)),
      inflate(inflater, compressAlone(Buffer.from('small'))).then((out) => order.push(`small:${out}`)),
    ]);
    assert.deepEqual(order, ['big:true', 'small:small']);
  });

  it('fails with 1009 as soon as the inflated size passes maxPayload (compression bomb)', async () => {
    const zeros = Buffer.alloc(128 << 20);
    const bomb = compressAlone(zeros); // 128 MiB of zeros: about 128 KiB compressed
    assert.ok(bomb.length < 256 * 1024);
    // Baseline: what inflating the whole bomb costs, in CPU time (wall time on a shared machine is
    // too noisy; process CPU time includes the thread pool's work).
    let started = process.cpuUsage();
    const whole = inflateRawSync(bomb, { finishFlush: constants.Z_SYNC_FLUSH });
    const fullCpu = cpuMs(process.cpuUsage(started));
    assert.equal(whole.length, zeros.length);
    const inflater = new MessageInflater({ noContextTakeover: true, maxPayload: 1 << 20 });
    started = process.cpuUsage();
    await assert.rejects(inflate(inflater, bomb), (e: ProtocolError) => e.closeCode === 1009);
    const cpu = cpuMs(process.cpuUsage(started));
    // Stopping after the first MiB costs a small fraction of inflating all 128 MiB.
    assert.ok(
      cpu < fullCpu / 4,
      `stopped after ${cpu.toFixed(1)} ms of CPU; inflating everything took ${fullCpu.toFixed(1)} ms`,
    );
    // The connection is failed: later messages are refused, not inflated.
    await assert.rejects(
      inflate(inflater, compressAlone(Buffer.from('x'))),
      (e: ProtocolError) => e.closeCode === 1011,
    );
  });

  it('inflates small messages synchronously without context takeover, and stops a bomb there too', () => {
    const inflater = new MessageInflater({ noContextTakeover: true, maxPayload: 1 << 20 });
    const message = Buffer.from('{"a":1,"b":"hello hello hello hello"}');
    const compressed = compressAlone(message);
    assert.ok(inflater.canInflateSync(compressed.length));
    assert.deepEqual(inflater.inflateSync(compressed), message);
    const bomb = compressAlone(Buffer.alloc(8 << 20)); // 8 MiB of zeros in about 8 KiB
    assert.ok(inflater.canInflateSync(bomb.length), `${bomb.length} bytes`);
    assert.throws(
      () => inflater.inflateSync(bomb),
      (e: ProtocolError) => e.closeCode === 1009,
    );
    assert.throws(
      () => inflater.inflateSync(Buffer.from([0xff, 0xff, 0xff])),
      (e: ProtocolError) => e.closeCode === 1007,
    );
    const withContext = new MessageInflater({ noContextTakeover: false, maxPayload: 1 << 20 });
    assert.equal(withContext.canInflateSync(10), false, 'context takeover needs the stream');
  });

  it('fails with 1007 on data that is not DEFLATE', async () => {
    const inflater = new MessageInflater({ noContextTakeover: true, maxPayload: 1 << 20 });
    await assert.rejects(
      inflate(inflater, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])),
      (e: ProtocolError) => e.closeCode === 1007,
    );
  });
});
