/**
 * MemoryBroker's memory bounds: the duplicate-publish memory keeps what an ack needs, never the data
 * (issue: 3,000 x 64 KB to one channel held 187 MiB of heap while history kept 262 messages), and all
 * histories together stay under maxHistoryBytes, idle channels going first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBroker } from '../../../src/session/brokers/memory.js';
import { PUBLICATION_OVERHEAD } from '../../../src/session/history.js';
import { heapAfterGc } from '../../support/attack.js';

const MiB = 1024 * 1024;

const FROM = { session: 's', user: null };

describe('MemoryBroker bounds', () => {
  it('answers a duplicate publish with the first one position, from a memory that holds no data', async () => {
    const broker = new MemoryBroker({ history: { maxBytes: 4 * MiB } });
    const before = heapAfterGc();
    for (let i = 0; i < 3000; i++) {
      // A distinct 64 KiB string each time, as a client would send.
      const data = `${i}:`.padEnd(64 * 1024, String.fromCharCode(97 + (i % 26)));
      await broker.publish('room', data, { from: FROM, idempotencyKey: `u\u0000room\u0000${i}` });
    }
    const grown = heapAfterGc() - before;
    // History keeps 4 MiB of data; 3,000 keys are a few hundred KiB. Before: ~190 MiB.
    assert.ok(grown < 12 * MiB, `heap grew by ${(grown / MiB).toFixed(1)} MiB`);
    assert.equal(broker.idempotencyKeys, 3000);
    const again = await broker.publish('room', 'the retry', {
      from: FROM,
      idempotencyKey: 'u\u0000room\u00007',
    });
    assert.equal(again.offset, 8);
    const recovered = await broker.recover('room', { epoch: again.epoch, offset: 2999 });
    assert.equal(recovered.publications.length, 1, 'the duplicate published nothing');
  });

  it('keeps all histories under maxHistoryBytes, dropping idle channels first and keeping listened ones', async () => {
    const max = 2 * MiB;
    const broker = new MemoryBroker({ maxHistoryBytes: max });
    await broker.listen('busy');
    const data = 'x'.repeat(10 * 1024);
    for (let i = 0; i < 20; i++) await broker.publish('busy', data, { from: null });
    for (let i = 0; i < 1000; i++) await broker.publish(`idle.${i}`, data, { from: null });
    assert.ok(broker.historyFootprint <= max, `footprint ${broker.historyFootprint}`);
    // The listened channel kept its history; the oldest idle ones went.
    const busy = await broker.recover('busy', {
      epoch: (await broker.recover('busy', null)).top.epoch,
      offset: 0,
    });
    assert.equal(busy.recovered, true);
    assert.equal(busy.publications.length, 20);
    const first = await broker.recover('idle.0', null);
    assert.equal(first.top.offset, 0, 'idle.0 was dropped: a new history');
    const last = await broker.recover('idle.999', null);
    assert.equal(last.top.offset, 1);
  });

  it('trims the oldest publications of listened channels when they alone pass the cap', async () => {
    const max = MiB;
    const broker = new MemoryBroker({ maxHistoryBytes: max });
    await broker.listen('a');
    await broker.listen('b');
    const data = 'y'.repeat(8 * 1024);
    for (let i = 0; i < 200; i++) {
      await broker.publish('a', data, { from: null });
      await broker.publish('b', data, { from: null });
    }
    assert.ok(broker.historyFootprint <= max);
    const a = await broker.recover('a', null);
    const b = await broker.recover('b', null);
    const fromStart = await broker.recover('a', { epoch: a.top.epoch, offset: 0 });
    assert.equal(fromStart.recovered, false);
    assert.equal(fromStart.reason, 'trimmed');
    const bLatest = await broker.recover('b', { epoch: b.top.epoch, offset: 199 });
    assert.equal(bLatest.recovered, true, 'the latest of each stays');
    assert.equal(bLatest.publications.length, 1);
  });

  it('counts PUBLICATION_OVERHEAD per kept publication, so tiny publications are bounded too', async () => {
    const broker = new MemoryBroker({ maxHistoryBytes: 100 * PUBLICATION_OVERHEAD });
    await broker.listen('c');
    for (let i = 0; i < 1000; i++) await broker.publish('c', '', { from: null });
    assert.ok(broker.historyFootprint <= 100 * PUBLICATION_OVERHEAD);
    const c = await broker.recover('c', null);
    const kept = await broker.recover('c', { epoch: c.top.epoch, offset: 1000 - 90 });
    assert.equal(kept.recovered, true);
  });

  it('costs at most PUBLICATION_OVERHEAD bytes of heap per kept publication besides its data', async () => {
    const broker = new MemoryBroker({ history: { maxCount: 100_000 } });
    // As the hub publishes: `from` is a new object each time, with its session's own (shared) strings.
    const sessions = Array.from({ length: 100 }, (_, i) => ({ id: crypto.randomUUID(), user: `user-${i}` }));
    const before = heapAfterGc();
    for (let i = 0; i < 50_000; i++) {
      const session = sessions[i % 100]!;
      await broker.publish('m', `${i}`, { from: { session: session.id, user: session.user } });
    }
    const perPublication = (heapAfterGc() - before) / 50_000;
    const kept = await broker.recover('m', { epoch: (await broker.recover('m', null)).top.epoch, offset: 0 });
    assert.equal(kept.publications.length, 50_000, 'all kept (and the broker still reachable here)');
    assert.ok(perPublication < PUBLICATION_OVERHEAD, `${perPublication.toFixed(0)} bytes each`);
  });
});
