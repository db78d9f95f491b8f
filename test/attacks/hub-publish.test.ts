/**
 * Attack: anonymous hub clients publishing large messages with distinct cmids to one channel (issue:
 * four WebSockets x 64 KiB killed the process with "Reached heap limit" after ~32 s, 49,253
 * publishes: the duplicate-publish memory kept every publication whole). The server must keep only
 * what history bounds allow plus what an ack needs per key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { RunningServer } from '../../src/server/serve.js';
import { assertLegitimateClientServed, heapAfterGc, MiB, startTarget } from '../support/attack.js';
import { within } from '../support/interop/peers.js';

/** Publish `count` messages of `size` bytes with distinct cmids; resolves once all are acked. */
async function flood(url: string, tag: string, count: number, size: number): Promise<number> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, 'conduit.v1');
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let acked = 0;
  const done = new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; code?: string };
      if (m.type === 'ack' && ++acked === count) resolve();
      if (m.type === 'error') reject(new Error(`publish refused: ${m.code}`));
    });
    ws.once('close', (code) => reject(new Error(`closed with ${code} after ${acked} acks`)));
  });
  const filler = tag.repeat(Math.ceil(size / tag.length)).slice(0, size);
  for (let i = 0; i < count; i++) {
    ws.send(
      JSON.stringify({ type: 'publish', id: i + 1, channel: 'flood', data: filler, cmid: `${tag}-${i}` }),
    );
    // Let the socket drain now and then: the attack is sustained, not one giant write.
    if (ws.bufferedAmount > 4 * MiB) await new Promise((r) => setTimeout(r, 5));
  }
  await done;
  ws.terminate();
  return acked;
}

describe('attack: hub publish flood', { timeout: 90_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startTarget();
  });

  after(async () => {
    await server.close();
  });

  it('keeps the heap within history bounds while 4 clients publish 4 x 1,500 x 63 KB with distinct cmids', async () => {
    const before = heapAfterGc();
    const floods = ['a', 'b', 'c', 'd'].map((tag) => flood(server.url, tag, 1500, 63_000));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await assertLegitimateClientServed(server.url);
    const acks = await within(60_000, 'the flood to be acknowledged', Promise.all(floods));
    assert.deepEqual(acks, [1500, 1500, 1500, 1500]);
    const grown = heapAfterGc() - before;
    // 360 MiB were published; the channel's history keeps 16 MiB (its default maxBytes), the 6,000
    // keys about 1 MiB. Before the fix the keys held every publication: ~360 MiB.
    assert.ok(grown < 48 * MiB, `heap grew by ${(grown / MiB).toFixed(1)} MiB`);
    await assertLegitimateClientServed(server.url);
  });
});
