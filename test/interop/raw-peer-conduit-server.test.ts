/**
 * Interop with a peer no library imitates: a raw TCP client that writes frames by hand, to check what
 * Conduit's server does with bytes glued to the upgrade request, unmasked frames, reserved opcodes and
 * a client that never finishes the closing handshake.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clientFrame,
  closeOfConduit,
  delay,
  listenConduit,
  openRawPeer,
  parseFrames,
  type RawPeer,
  within,
} from '../support/interop/peers.js';

const TEXT = 0x1;
const CLOSE = 0x8;

async function framesOf(peer: RawPeer, count: number): Promise<ReturnType<typeof parseFrames>> {
  await within(
    3000,
    `${count} frame(s) from the server`,
    (async () => {
      while (parseFrames(peer.bytes()).length < count) await delay(5);
    })(),
  );
  return parseFrames(peer.bytes());
}

function closeCodeOf(payload: Buffer): number {
  return payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
}

describe('a raw TCP peer against a Conduit server', { timeout: 15_000 }, () => {
  it('processes frames that arrive in the same write as the upgrade request', async () => {
    const peer = await listenConduit();
    try {
      const glued = Buffer.concat([
        clientFrame(TEXT, Buffer.from('first'), { fin: false }),
        clientFrame(0x0, Buffer.from(' frame')),
        clientFrame(TEXT, Buffer.from('second')),
      ]);
      const raw = await openRawPeer(peer.port, '/', glued);
      const frames = await framesOf(raw, 2);
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.fin, f.masked, f.payload.toString()]),
        [
          [TEXT, true, false, 'first frame'],
          [TEXT, true, false, 'second'],
        ],
      );
      raw.socket.destroy();
    } finally {
      await peer.close();
    }
  });

  it('fails with 1002 and closes TCP when a client frame is not masked', async () => {
    const peer = await listenConduit();
    try {
      const raw = await openRawPeer(peer.port);
      const { conn } = await peer.nextConnection();
      const serverSide = closeOfConduit(conn);
      raw.socket.write(clientFrame(TEXT, Buffer.from('naked'), { mask: false }));
      const frames = await framesOf(raw, 1);
      assert.equal(frames[0]?.opcode, CLOSE);
      assert.equal(closeCodeOf(frames[0]!.payload), 1002);
      await within(3000, 'the server to close TCP', raw.closed);
      assert.equal((await serverSide).wasClean, false);
    } finally {
      await peer.close();
    }
  });

  it('fails with 1002 on a reserved opcode and on a fragmented ping', async () => {
    const peer = await listenConduit();
    try {
      for (const bad of [
        clientFrame(0x3, Buffer.from('?')),
        clientFrame(0x9, Buffer.from('p'), { fin: false }),
      ]) {
        const raw = await openRawPeer(peer.port);
        raw.socket.write(bad);
        const frames = await framesOf(raw, 1);
        assert.equal(closeCodeOf(frames[0]!.payload), 1002);
        await within(3000, 'the server to close TCP', raw.closed);
      }
    } finally {
      await peer.close();
    }
  });

  it('answers a client close frame with the same code, then closes TCP first (section 7.1.1)', async () => {
    const peer = await listenConduit();
    try {
      const raw = await openRawPeer(peer.port);
      const { conn } = await peer.nextConnection();
      const serverSide = closeOfConduit(conn);
      const payload = Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from('raw bye')]); // 4000
      raw.socket.write(clientFrame(CLOSE, payload));
      const frames = await framesOf(raw, 1);
      assert.equal(frames[0]?.opcode, CLOSE);
      assert.equal(closeCodeOf(frames[0]!.payload), 4000);
      await within(3000, 'the server to close TCP', raw.closed);
      assert.deepEqual(await serverSide, { code: 4000, reason: 'raw bye', wasClean: true });
    } finally {
      await peer.close();
    }
  });

  it('drops a client that never answers its close frame after closeTimeout, reporting 1006', async () => {
    const peer = await listenConduit({ closeTimeout: 300 });
    try {
      const raw = await openRawPeer(peer.port);
      const { conn } = await peer.nextConnection();
      const serverSide = closeOfConduit(conn, 3000);
      const started = Date.now();
      conn.close(1000, 'are you there?');
      const frames = await framesOf(raw, 1);
      assert.equal(closeCodeOf(frames[0]!.payload), 1000);
      assert.deepEqual(await serverSide, { code: 1006, reason: '', wasClean: false });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 2000, `closed after ${elapsed} ms`);
      await within(3000, 'TCP to close', raw.closed);
    } finally {
      await peer.close();
    }
  });
});
