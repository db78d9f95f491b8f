import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChannelHistory } from '../../src/session/history.js';

function history(limits = {}, clock = { t: 0 }) {
  return new ChannelHistory('c', 'E1', limits, () => clock.t);
}

describe('ChannelHistory', () => {
  it('gives offsets 1, 2, 3 in its epoch and replays exactly what follows a position', () => {
    const h = history();
    for (const d of ['a', 'b', 'c', 'd']) h.append(d, null);
    const r = h.since({ epoch: 'E1', offset: 2 });
    assert.equal(r.recovered, true);
    assert.deepEqual(
      r.publications.map((p) => [p.offset, p.data]),
      [
        [3, 'c'],
        [4, 'd'],
      ],
    );
    assert.deepEqual(h.since({ epoch: 'E1', offset: 4 }).publications, []);
    assert.deepEqual(h.top, { epoch: 'E1', offset: 4 });
  });

  it('says recovered: false (trimmed) when the count bound dropped what follows the position, with what is kept', () => {
    const h = history({ maxCount: 2 });
    for (const d of ['a', 'b', 'c', 'd']) h.append(d, null);
    const r = h.since({ epoch: 'E1', offset: 1 });
    assert.equal(r.recovered, false);
    assert.equal(r.recovered === false && r.reason, 'trimmed');
    assert.deepEqual(
      r.publications.map((p) => p.offset),
      [3, 4],
    );
    assert.equal(h.since({ epoch: 'E1', offset: 2 }).recovered, true);
  });

  it('drops publications older than maxAgeMs', () => {
    const clock = { t: 0 };
    const h = history({ maxAgeMs: 1000 }, clock);
    h.append('old', null);
    clock.t = 600;
    h.append('new', null);
    clock.t = 1200;
    assert.equal(h.size, 1);
    assert.equal(h.since({ epoch: 'E1', offset: 0 }).recovered, false);
    assert.deepEqual(
      h.since({ epoch: 'E1', offset: 1 }).publications.map((p) => p.data),
      ['new'],
    );
  });

  it('keeps the data under maxBytes, but always the latest publication', () => {
    const h = history({ maxBytes: 10 });
    h.append('12345', null);
    h.append('67890', null);
    h.append('x'.repeat(50), null);
    assert.equal(h.size, 1);
    assert.equal(h.since({ epoch: 'E1', offset: 2 }).publications[0]!.data.length, 50);
  });

  it('refuses a position of another epoch (epoch) and one it has not reached (future)', () => {
    const h = history();
    h.append('a', null);
    const other = h.since({ epoch: 'E0', offset: 1 });
    assert.equal(other.recovered === false && other.reason, 'epoch');
    const future = h.since({ epoch: 'E1', offset: 2 });
    assert.equal(future.recovered === false && future.reason, 'future');
    assert.deepEqual(future.publications, []);
  });
});
