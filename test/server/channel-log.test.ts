import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChannelLog } from '../../src/server/channel-log.js';

const ids = (events: readonly { id: number }[]) => events.map((e) => e.id);

describe('ChannelLog', () => {
  it('numbers events 1, 2, 3 and replays exactly those after a known id', () => {
    const log = new ChannelLog(10);
    for (let i = 1; i <= 5; i++) assert.equal(log.publish(`m${i}`).id, i);
    assert.deepEqual(log.since(null), { complete: true, events: [] });
    assert.deepEqual(log.since('5'), { complete: true, events: [] });
    const replay = log.since('3');
    assert.equal(replay.complete, true);
    assert.deepEqual(replay.events, [
      { id: 4, data: 'm4', bytes: 2 },
      { id: 5, data: 'm5', bytes: 2 },
    ]);
    assert.deepEqual(ids(log.since('0').events), [1, 2, 3, 4, 5]);
  });

  it('says so when the id is older than the buffer, or unknown, and gives the whole buffer', () => {
    const log = new ChannelLog(3);
    for (let i = 1; i <= 7; i++) log.publish(`m${i}`);
    assert.equal(log.oldestId, 5);
    assert.deepEqual(ids(log.since('4').events), [5, 6, 7], 'id 4 is just before the oldest: covered');
    assert.equal(log.since('4').complete, true);
    for (const id of ['3', '8', 'abc', '', '-1', '01', '1e3']) {
      const replay = log.since(id);
      assert.equal(replay.complete, false, id);
      assert.deepEqual(ids(replay.events), [5, 6, 7], id);
    }
  });

  it('keeps at most maxBytes of data, oldest out first, and always the latest event', () => {
    const log = new ChannelLog(100, 10);
    for (const data of ['aaaa', 'bbbb', 'cccc']) log.publish(data);
    assert.deepEqual(ids(log.since('0').events), [2, 3], 'the first event went: 12 bytes > 10');
    assert.equal(log.keptBytes, 8);
    assert.equal(log.since('1').complete, true, 'id 1 is just before the oldest kept');
    assert.equal(log.since('0').complete, false);
    log.publish('é'.repeat(20)); // 40 bytes on its own: kept alone
    assert.deepEqual(ids(log.since('3').events), [4]);
    assert.equal(log.keptBytes, 40);
    assert.equal(log.oldestId, 4);
  });

  it('replays without loss or repetition for any capacity, history and id (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.nat(60),
        fc.integer({ min: 0, max: 70 }),
        (cap, n, seen) => {
          const log = new ChannelLog(cap);
          for (let i = 0; i < n; i++) log.publish(String(i + 1));
          const replay = log.since(String(seen));
          const covered = seen <= n && seen >= n - cap;
          assert.equal(replay.complete, covered);
          const expected = covered
            ? Array.from({ length: n - seen }, (_, i) => seen + 1 + i)
            : Array.from({ length: Math.min(n, cap) }, (_, i) => n - Math.min(n, cap) + 1 + i);
          assert.deepEqual(ids(replay.events), expected);
        },
      ),
    );
  });
});
