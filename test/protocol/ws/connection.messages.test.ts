/**
 * Messages through two cores joined in memory: whatever one role sends, fragmented at random with pings
 * interleaved, comes out of the other role identical under any chunking of the byte stream; pings are
 * answered with their own payload (RFC 6455 section 5.5.2).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Connection, Role } from '../../../src/protocol/ws/connection.js';
import { byteByByte, randomChunks } from '../../support/chunkers.js';
import { frameTo } from '../../support/frames.js';
import { type Chunker, ConnectionPair, endpoint } from '../../support/pair.js';
import { Rng, randomUtf8 } from '../../support/random.js';
import type { RecordingHandler } from '../../support/recorder.js';

interface MessageSpec {
  isText: boolean;
  size: number;
  /** Fragment boundaries as fractions of the size. */
  fragments: number[];
  /** Ping payload sizes, one list per gap: before the first fragment and after each fragment. */
  pings: number[];
  seed: number;
}

function messageSpec(size: fc.Arbitrary<number>): fc.Arbitrary<MessageSpec> {
  return fc.record({
    isText: fc.boolean(),
    size,
    fragments: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
    pings: fc.array(fc.integer({ min: 0, max: 125 }), { maxLength: 3 }),
    seed: fc.integer(),
  });
}

const anySize = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 125, 126, 127, 65535, 65536, 65537) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 70000 }) },
);

function contentOf(spec: MessageSpec): Buffer {
  const rng = new Rng(spec.seed);
  return spec.isText ? randomUtf8(rng, spec.size) : rng.bytes(spec.size);
}

/** Send the messages from `sender`, fragment by fragment, with pings between fragments. */
function sendAll(sender: Connection, specs: readonly MessageSpec[]): Buffer[] {
  const pingPayloads: Buffer[] = [];
  for (const spec of specs) {
    const data = contentOf(spec);
    const cuts = [...new Set(spec.fragments.map((f) => Math.floor(f * data.length)))].sort((a, b) => a - b);
    const bounds = [0, ...cuts, data.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      if (spec.pings[i] !== undefined) {
        const payload = new Rng(spec.seed ^ i).bytes(spec.pings[i]!);
        pingPayloads.push(payload);
        sender.ping(payload);
      }
      // Cuts may fall inside a UTF-8 sequence: the receiver reassembles before judging.
      sender.send(data.subarray(bounds[i]!, bounds[i + 1]!), spec.isText, i + 2 === bounds.length);
    }
  }
  return pingPayloads;
}

function checkReceived(
  receiver: RecordingHandler,
  specs: readonly MessageSpec[],
  pings: readonly Buffer[],
): void {
  assert.deepEqual(receiver.errors(), []);
  const messages = receiver.messages();
  assert.equal(messages.length, specs.length);
  specs.forEach((spec, i) => {
    assert.equal(messages[i]!.isText, spec.isText, `message ${i} type`);
    assert.equal(messages[i]!.compressed, false);
    assert.ok(messages[i]!.data.equals(contentOf(spec)), `message ${i} content (${spec.size} bytes)`);
  });
  const received = receiver.events.flatMap((e) => (e.type === 'ping' ? [e.payload] : []));
  assert.deepEqual(
    received.map((p) => p.toString('hex')),
    pings.map((p) => p.toString('hex')),
  );
}

function roundTrip(from: Role, specs: readonly MessageSpec[], chunker: Chunker, maskSeed: number): void {
  const pair = new ConnectionPair({ maskSeed });
  const sender = from === 'client' ? pair.client : pair.server;
  const pings = sendAll(sender, specs);
  pair.deliver(chunker);
  const receiverLog = from === 'client' ? pair.serverLog : pair.clientLog;
  const senderLog = from === 'client' ? pair.clientLog : pair.serverLog;
  checkReceived(receiverLog, specs, pings);
  // Every ping came back as a pong with the same payload, in order.
  const pongs = senderLog.events.flatMap((e) => (e.type === 'pong' ? [e.payload.toString('hex')] : []));
  assert.deepEqual(
    pongs,
    pings.map((p) => p.toString('hex')),
  );
  // The frames on the wire obey the masking rule of the sender's role.
  const frames = senderLog.writtenFrames();
  assert.ok(frames.every((f) => f.masked === (from === 'client')));
}

describe('Connection: messages between the two roles', () => {
  it('delivers random messages identical under random chunking, in both directions', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Role>('client', 'server'),
        fc.array(messageSpec(anySize), { minLength: 1, maxLength: 4 }),
        fc.integer(),
        fc.integer({ min: 1, max: 70000 }),
        (from, specs, seed, maxChunk) => {
          const rng = new Rng(seed);
          roundTrip(from, specs, (bytes) => randomChunks(bytes, rng, maxChunk), seed);
        },
      ),
      { numRuns: 120 },
    );
  });

  it('delivers random messages identical when every byte arrives on its own, in both directions', () => {
    const smallSize = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(125, 126, 127));
    fc.assert(
      fc.property(
        fc.constantFrom<Role>('client', 'server'),
        fc.array(messageSpec(smallSize), { minLength: 1, maxLength: 4 }),
        fc.integer(),
        (from, specs, seed) => {
          roundTrip(from, specs, byteByByte, seed);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('delivers a 65536-byte fragmented text message fed one byte at a time', () => {
    const spec: MessageSpec = {
      isText: true,
      size: 65536,
      fragments: [0.25, 0.5001],
      pings: [3, 125],
      seed: 42,
    };
    roundTrip('client', [spec], byteByByte, 5);
    roundTrip('server', [spec], byteByByte, 5);
  });

  it('writes a fragmented send as a first frame with the opcode and continuation frames after it', () => {
    const { conn, log } = endpoint('server');
    conn.send(Buffer.from('a'), true, false);
    conn.ping(Buffer.from('p'));
    conn.send(Buffer.from('b'), true, false);
    conn.send(Buffer.from('c'), true, true);
    conn.send(Buffer.from('d'), false);
    assert.deepEqual(
      log.writtenFrames().map((f) => [f.opcode, f.fin, f.payload.toString()]),
      [
        [1, false, 'a'],
        [9, true, 'p'],
        [0, false, 'b'],
        [0, true, 'c'],
        [2, true, 'd'],
      ],
    );
  });

  it('sets RSV1 on the first frame only of a message sent as compressed', () => {
    const { conn, log } = endpoint('client');
    conn.send(Buffer.from('x'), false, false, true);
    conn.send(Buffer.from('y'), false, true, true);
    assert.deepEqual(
      log.writtenFrames().map((f) => [f.opcode, f.rsv1, f.masked]),
      [
        [2, true, true],
        [0, false, true],
      ],
    );
  });

  it('masks every client frame with the fresh key generateMask returns for it', () => {
    const keys: Uint8Array[] = [];
    const { conn, log } = endpoint('client', {
      generateMask: () => {
        const key = Uint8Array.of(keys.length + 1, 0x80, 0x40, 0xff);
        keys.push(key);
        return key;
      },
    });
    const sends: Array<[() => void, string]> = [
      [() => conn.send(Buffer.from('one'), true), 'one'],
      [() => conn.ping(Buffer.from('ping')), 'ping'],
      [() => conn.send(Buffer.from('two'), false), 'two'],
      [() => conn.close(1000), '\u0003\u00e8'],
    ];
    sends.forEach(([send, payload], i) => {
      send();
      const bytes = log.takeWritten();
      assert.equal(keys.length, i + 1);
      assert.deepEqual(Uint8Array.from(bytes.subarray(2, 6)), keys[i]);
      const unmasked = Buffer.from(bytes.subarray(6).map((b, j) => b ^ keys[i]![j % 4]!));
      assert.equal(unmasked.toString('latin1'), payload);
    });
  });

  describe('automatic pong', () => {
    for (const role of ['server', 'client'] as const) {
      it(`answers a ping with a pong carrying the same payload as a ${role}`, () => {
        const { conn, log } = endpoint(role);
        const payload = Buffer.from('are you there?');
        conn.receiveData(frameTo(role, { opcode: 9, payload }));
        const frames = log.writtenFrames();
        assert.equal(frames.length, 1);
        assert.equal(frames[0]!.opcode, 0xa);
        assert.equal(frames[0]!.masked, role === 'client');
        assert.ok(frames[0]!.payload.equals(payload));
        const ping = log.events.find((e) => e.type === 'ping');
        assert.ok(ping?.type === 'ping' && ping.payload.equals(payload));
      });
    }

    it('answers an empty ping with an empty pong', () => {
      const { conn, log } = endpoint('server');
      conn.receiveData(frameTo('server', { opcode: 9 }));
      assert.deepEqual(
        log.writtenFrames().map((f) => [f.opcode, f.payload.length]),
        [[0xa, 0]],
      );
    });

    it('does not answer with autoPong off, but still reports the ping', () => {
      const { conn, log } = endpoint('server', { autoPong: false });
      conn.receiveData(frameTo('server', { opcode: 9, payload: 'x' }));
      assert.equal(log.writtenFrames().length, 0);
      assert.deepEqual(log.types(), ['ping']);
    });

    it('reports a pong without answering it', () => {
      const { conn, log } = endpoint('client');
      conn.receiveData(frameTo('client', { opcode: 10, payload: 'unsolicited' }));
      assert.equal(log.writtenFrames().length, 0);
      assert.deepEqual(log.types(), ['pong']);
    });
  });
});
