/**
 * The broker port's contract, run against every broker (memory.test.ts, redis.test.ts): what the hub
 * relies on. `node()` gives a broker on the same backend each call (the memory broker: the same
 * instance; Redis: a new node on the same Redis and prefix), so that "another node" cases hold for both.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Broker, PresenceMember } from '../../../src/session/broker.js';
import type { Publication } from '../../../src/session/history.js';
import { until } from '../../support/until.js';

export interface ContractSetup {
  /** A broker on the shared backend; history kept: 5 publications. */
  node(): Promise<Broker>;
}

/** Wait until `check` holds (events cross a network for Redis). */
export const eventually = until;

let unique = 0;
const channelName = (name: string) => `${name}.${process.pid}.${++unique}`;

export function brokerContract(setup: ContractSetup): void {
  it('assigns contiguous offsets in one epoch, and recover(null) gives the top', async () => {
    const broker = await setup.node();
    const channel = channelName('offsets');
    const first = await broker.publish(channel, 'a', { from: null });
    const second = await broker.publish(channel, 'b', { from: { session: 's1', user: 'ann' } });
    assert.deepEqual([first.offset, second.offset, second.epoch], [1, 2, first.epoch]);
    const top = await broker.recover(channel, null);
    assert.deepEqual(
      [top.recovered, top.top, top.publications.length],
      [true, { epoch: first.epoch, offset: 2 }, 0],
    );
  });

  it('recovers exactly what follows a position, with data, publisher and order', async () => {
    const broker = await setup.node();
    const channel = channelName('recover');
    const p1 = await broker.publish(channel, 'one', { from: null });
    await broker.publish(channel, 'two', { from: { session: 's1', user: 'ann' } });
    await broker.publish(channel, 'thr\u00e9e \u2713', { from: { session: 's2', user: null } });
    const r = await broker.recover(channel, { epoch: p1.epoch, offset: 1 });
    assert.equal(r.recovered, true);
    assert.deepEqual(
      r.publications.map((p) => [p.offset, p.data, p.from]),
      [
        [2, 'two', { session: 's1', user: 'ann' }],
        [3, 'thr\u00e9e \u2713', { session: 's2', user: null }],
      ],
    );
    assert.deepEqual((await broker.recover(channel, { epoch: p1.epoch, offset: 3 })).publications, []);
    const future = await broker.recover(channel, { epoch: p1.epoch, offset: 4 });
    assert.deepEqual([future.recovered, !future.recovered && future.reason], [false, 'future']);
    const other = await broker.recover(channel, { epoch: 'another', offset: 1 });
    assert.deepEqual([other.recovered, !other.recovered && other.reason], [false, 'epoch']);
    assert.deepEqual(
      other.publications.map((p) => p.offset),
      [1, 2, 3],
    );
  });

  it('trims the history by count and says so to a position that fell out of it', async () => {
    const broker = await setup.node();
    const channel = channelName('trim');
    let epoch = '';
    for (let i = 1; i <= 8; i++) epoch = (await broker.publish(channel, `m${i}`, { from: null })).epoch;
    const r = await broker.recover(channel, { epoch, offset: 1 });
    assert.deepEqual([r.recovered, !r.recovered && r.reason], [false, 'trimmed']);
    assert.deepEqual(
      r.publications.map((p) => p.data),
      ['m4', 'm5', 'm6', 'm7', 'm8'],
    );
    const kept = await broker.recover(channel, { epoch, offset: 3 });
    assert.deepEqual([kept.recovered, kept.publications.length], [true, 5]);
  });

  it('publishes a retried idempotency key once, and answers it with the first position', async () => {
    const broker = await setup.node();
    const channel = channelName('idem');
    const first = await broker.publish(channel, 'x', { from: null, idempotencyKey: `k\u0000${channel}` });
    const again = await (await setup.node()).publish(channel, 'x', {
      from: null,
      idempotencyKey: `k\u0000${channel}`,
    });
    assert.deepEqual([again.epoch, again.offset], [first.epoch, first.offset]);
    const other = await broker.publish(channel, 'y', { from: null, idempotencyKey: `k2\u0000${channel}` });
    assert.equal(other.offset, first.offset + 1);
    assert.equal((await broker.recover(channel, { epoch: first.epoch, offset: 0 })).publications.length, 2);
  });

  it('assigns every offset exactly once when two nodes publish to a channel at once', async () => {
    const a = await setup.node();
    const b = await setup.node();
    const channel = channelName('race');
    const all = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).publish(channel, `m${i}`, { from: null })),
    );
    assert.deepEqual(
      all.map((p) => p.offset).sort((x, y) => x - y),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.equal(new Set(all.map((p) => p.epoch)).size, 1);
  });

  it('delivers publications to the nodes listening on the channel, and stops after unlisten', async () => {
    const listener = await setup.node();
    const publisher = await setup.node();
    const channel = channelName('listen');
    const got: Publication[] = [];
    listener.onPublication((p) => {
      if (p.channel === channel) got.push(p);
    });
    await listener.listen(channel);
    await publisher.publish(channel, 'hello', { from: { session: 's9', user: 'bob' } });
    await eventually(() => got.length === 1, 'the publication');
    assert.deepEqual(
      [got[0]!.data, got[0]!.offset, got[0]!.from],
      ['hello', 1, { session: 's9', user: 'bob' }],
    );
    await listener.unlisten(channel);
    await publisher.publish(channel, 'unheard', { from: null });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.length, 1);
  });

  it('keeps presence: join once, list, leave, with events to the nodes listening', async () => {
    const a = await setup.node();
    const b = await setup.node();
    const channel = channelName('presence');
    const events: string[] = [];
    b.onPresence((c, change, member: PresenceMember) => {
      if (c === channel) events.push(`${change} ${member.session} ${member.user}`);
    });
    await b.listen(channel);
    assert.equal(await a.join(channel, { session: 's1', user: 'ann' }), true);
    assert.equal(await a.join(channel, { session: 's1', user: 'ann' }), false);
    await a.join(channel, { session: 's2', user: null });
    const members = await b.members(channel);
    assert.deepEqual(members.map((m) => [m.session, m.user]).sort(), [
      ['s1', 'ann'],
      ['s2', null],
    ]);
    assert.equal(await a.leave(channel, 's1'), true);
    assert.equal(await a.leave(channel, 's1'), false);
    await eventually(() => events.length === 3, `presence events: ${events}`);
    assert.deepEqual(events, ['join s1 ann', 'join s2 null', 'leave s1 ann']);
    await b.unlisten(channel);
  });
}
