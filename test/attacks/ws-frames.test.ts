/**
 * Attacks on WebSocket framing against `conduit serve`'s composition: tiny fragments (issue: 3
 * connections x 12M one-byte fragments took the server to 4.36 GiB) and frame headers that declare
 * far more than they send (issue: 500 connections x 16 MiB declared, 7.5 KB sent, +8 GiB). Each
 * asserts its bound (memory measured) and that a legitimate client is served during the attack.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/serve.js';
import {
  assertLegitimateClientServed,
  heapAfterGc,
  MiB,
  memoryNow,
  rawWebSocket,
  startTarget,
} from '../support/attack.js';
import { decodeClose, decodeFrames, encodeFrame } from '../support/frames.js';

const ZERO_KEY = Uint8Array.of(0, 0, 0, 0);

/** A 1-byte fragment as the attack sent it: 7 bytes on the wire, mask key 0. */
function tinyFragment(first: boolean): Buffer {
  return encodeFrame({ fin: false, opcode: first ? 2 : 0, payload: Uint8Array.of(0x61), mask: ZERO_KEY });
}

/** Everything the server sends until it closes the TCP connection, at most `ms`. */
async function untilClosed(socket: Socket, ms: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const timer = setTimeout(() => socket.destroy(new Error(`still open after ${ms} ms`)), ms);
  await once(socket, 'close');
  clearTimeout(timer);
  return Buffer.concat(chunks);
}

function closeCodeOf(bytes: Buffer): number | undefined {
  const close = decodeFrames(bytes).find((f) => f.opcode === 8);
  return close === undefined ? undefined : decodeClose(close.payload).code;
}

describe('attack: WebSocket framing', { timeout: 60_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startTarget();
  });

  after(async () => {
    await server.close();
  });

  it('closes with 1008 a message in one-byte fragments past its limit (16,384 + 1 per 64 bytes), and serves others meanwhile', async () => {
    const attackers = await Promise.all([1, 2, 3].map(() => rawWebSocket(server.port, '/echo')));
    const before = memoryNow();
    const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => tinyFragment(i === 0)));
    const rest = Buffer.concat(Array.from({ length: 1000 }, () => tinyFragment(false)));
    const results = attackers.map((socket) => untilClosed(socket, 10_000));
    // 20,000 fragments each (140 KB): past the limit, in batches, as fast as the server reads.
    for (let i = 0; i < 20; i++) {
      for (const socket of attackers) if (!socket.destroyed) socket.write(i === 0 ? batch : rest);
      if (i === 10) await assertLegitimateClientServed(server.url);
    }
    const received = await Promise.all(results);
    for (const bytes of received) assert.equal(closeCodeOf(bytes), 1008);
    const grown = memoryNow().arrayBuffers - before.arrayBuffers;
    assert.ok(grown < 16 * MiB, `buffers grew by ${(grown / MiB).toFixed(1)} MiB`);
    await assertLegitimateClientServed(server.url);
  });

  it('allocates from the bytes received, not from 16 MiB declared by 200 connections', async () => {
    const attackers = await Promise.all(
      Array.from({ length: 200 }, () => rawWebSocket(server.port, '/echo')),
    );
    global.gc?.();
    const before = memoryNow();
    // Each header declares 16 MiB (the default maxPayload), then one byte follows, and nothing more.
    const head = encodeFrame({ opcode: 2, length: 16 * MiB, payload: Uint8Array.of(1), mask: ZERO_KEY });
    for (const socket of attackers) {
      socket.on('error', () => undefined);
      socket.write(head);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const grown = memoryNow().arrayBuffers - before.arrayBuffers;
    // Before: 200 x 16 MiB = 3.2 GiB of buffers. Now: a few bytes each.
    assert.ok(grown < 32 * MiB, `buffers grew by ${(grown / MiB).toFixed(1)} MiB for 200 x 15 bytes`);
    await assertLegitimateClientServed(server.url);
    for (const socket of attackers) socket.destroy();
  });

  it('holds a few pongs at most for a client that floods empty pings and never reads', async () => {
    const before = heapAfterGc();
    const attacker = await rawWebSocket(server.port, '/echo');
    attacker.on('error', () => undefined);
    attacker.pause(); // never reads: the server's pongs pile up in the kernel, then in Node
    const ping = encodeFrame({ opcode: 9, mask: ZERO_KEY });
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => ping));
    // 300,000 empty pings (1.8 MB). Before: a socket write per pong, ~120 bytes each, past the
    // high-water mark's view (2 bytes each): ~35 MiB for this connection.
    for (let i = 0; i < 30; i++) {
      if (!attacker.write(batch)) await once(attacker, 'drain');
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const grown = heapAfterGc() - before;
    assert.ok(grown < 8 * MiB, `heap grew by ${(grown / MiB).toFixed(1)} MiB`);
    await assertLegitimateClientServed(server.url);
    attacker.destroy();
  });

  it('closes with 1013 the connection whose message would pass the shared receive budget, and serves others', async () => {
    const small = await startTarget({ receiveBudget: 24 * MiB });
    try {
      const attackers = await Promise.all([1, 2, 3].map(() => rawWebSocket(small.port, '/echo')));
      const results = attackers.map((socket) => untilClosed(socket, 10_000));
      // Each sends 10 MiB of a 16 MiB message, and nothing more: 30 MiB would be held without the budget.
      const head = encodeFrame({ opcode: 2, length: 16 * MiB, payload: Buffer.alloc(0), mask: ZERO_KEY });
      const chunk = Buffer.alloc(MiB, 0x61);
      for (const socket of attackers) socket.write(head);
      for (let i = 0; i < 10; i++) {
        for (const socket of attackers) if (!socket.destroyed) socket.write(chunk);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const closed = await Promise.race([
        Promise.any(results),
        new Promise<Buffer>((_, reject) => setTimeout(() => reject(new Error('no connection closed')), 5000)),
      ]);
      assert.equal(closeCodeOf(closed), 1013);
      await assertLegitimateClientServed(small.url);
      for (const socket of attackers) socket.destroy();
    } finally {
      await small.close();
    }
  });
});
