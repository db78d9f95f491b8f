import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker } from '../../src/session/broker.js';
import { MemoryBroker } from '../../src/session/brokers/memory.js';
import type { Publication } from '../../src/session/history.js';
import { Hub, type HubOptions } from '../../src/session/hub.js';
import { FakeClock, MemoryTransport, settle } from '../support/hub.js';

const anonymous = { user: null, channels: null };

function hubWith(options: HubOptions = {}, clock = new FakeClock()) {
  let n = 0;
  const broker = options.broker ?? new MemoryBroker({ now: () => clock.now(), newEpoch: () => 'E1' });
  const hub = new Hub({ clock, broker, newSessionId: () => `s${++n}`, ...options });
  return { hub, clock, broker };
}

function send(hub: Hub, session: ReturnType<Hub['open']>, message: object): void {
  hub.receive(session, JSON.stringify(message));
}

describe('Hub delivery', () => {
  it('sends subscribed first, then every publication in order with its epoch and offset', async () => {
    const { hub } = hubWith();
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'news' });
    await settle();
    for (const d of ['a', 'b', 'c']) await hub.publish('news', d);
    assert.deepEqual(
      t.received.map((m) => m.type),
      ['connected', 'subscribed', 'message', 'message', 'message'],
    );
    assert.deepEqual(
      t.of('message').map((m) => [m.epoch, m.offset, m.data]),
      [
        ['E1', 1, 'a'],
        ['E1', 2, 'b'],
        ['E1', 3, 'c'],
      ],
    );
  });

  it('resumes from (epoch, offset) with exactly the publications after it, then live ones', async () => {
    const { hub } = hubWith();
    for (let i = 1; i <= 5; i++) await hub.publish('feed', `m${i}`);
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed', since: { epoch: 'E1', offset: 3 } });
    await settle();
    await hub.publish('feed', 'm6');
    const subscribed = t.of('subscribed')[0]!;
    assert.equal(subscribed.recovered, true);
    assert.equal(subscribed.offset, 3);
    assert.deepEqual(t.data('feed'), ['m4', 'm5', 'm6']);
  });

  it('says recovered: false with the reason when history no longer covers the position or the epoch changed', async () => {
    const { hub } = hubWith({ broker: new MemoryBroker({ history: { maxCount: 2 }, newEpoch: () => 'E1' }) });
    for (let i = 1; i <= 5; i++) await hub.publish('feed', `m${i}`);
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed', since: { epoch: 'E1', offset: 1 } });
    send(hub, s, { type: 'subscribe', id: 2, channel: 'other', since: { epoch: 'OLD', offset: 1 } });
    await settle();
    const [trimmed, epoch] = t.of('subscribed');
    assert.deepEqual([trimmed!.recovered, trimmed!.reason, trimmed!.offset], [false, 'trimmed', 3]);
    assert.deepEqual(t.data('feed'), ['m4', 'm5']);
    assert.deepEqual([epoch!.recovered, epoch!.reason], [false, 'epoch']);
  });

  it('answers a resume offset from the future with OFFSET_FROM_THE_FUTURE and keeps the session', async () => {
    const { hub } = hubWith();
    await hub.publish('feed', 'm1');
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 7, channel: 'feed', since: { epoch: 'E1', offset: 9 } });
    await settle();
    assert.deepEqual(
      t.of('error').map((e) => [e.id, e.code]),
      [[7, 'OFFSET_FROM_THE_FUTURE']],
    );
    send(hub, s, { type: 'subscribe', id: 8, channel: 'feed', since: { epoch: 'E1', offset: 1 } });
    await settle();
    await hub.publish('feed', 'm2');
    assert.deepEqual(t.data('feed'), ['m2']);
    assert.equal(t.closed, null);
  });

  it('holds publications that arrive while a subscribe recovers, and delivers them after the replay, once', async () => {
    const inner = new MemoryBroker({ newEpoch: () => 'E1' });
    let release: () => void = () => undefined;
    const slow: Broker = Object.assign(Object.create(inner) as Broker, {
      recover: async (channel: string, since: Parameters<Broker['recover']>[1]) => {
        const answer = await inner.recover(channel, since);
        await new Promise<void>((resolve) => (release = resolve));
        return answer;
      },
    });
    const { hub } = hubWith({ broker: slow });
    for (let i = 1; i <= 3; i++) await hub.publish('feed', `m${i}`);
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed', since: { epoch: 'E1', offset: 1 } });
    await settle();
    await hub.publish('feed', 'm4'); // arrives during the recovery, which answered m2, m3
    release();
    await settle();
    assert.deepEqual(t.data('feed'), ['m2', 'm3', 'm4']);
  });

  it('recovers from history the publications a broker failed to deliver, in order, none twice', async () => {
    const inner = new MemoryBroker({ newEpoch: () => 'E1' });
    const lossy: Broker = Object.assign(Object.create(inner) as Broker, {
      onPublication: (handler: (p: Publication) => void) =>
        inner.onPublication((p) => {
          if (p.offset !== 2 && p.offset !== 3) handler(p);
        }),
    });
    const { hub } = hubWith({ broker: lossy });
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed' });
    await settle();
    for (let i = 1; i <= 5; i++) await hub.publish('feed', `m${i}`);
    await settle();
    assert.deepEqual(t.data('feed'), ['m1', 'm2', 'm3', 'm4', 'm5']);
  });
});

describe('Hub client publishes', () => {
  it('acknowledges a publish with its offset, and a retry of the same cmid with the same ack without delivering it again', async () => {
    const { hub } = hubWith();
    const reader = new MemoryTransport();
    const r = hub.open(reader, anonymous);
    send(hub, r, { type: 'subscribe', id: 1, channel: 'chat' });
    const t = new MemoryTransport();
    const s = hub.open(t, { user: 'ann', channels: null });
    await settle();
    send(hub, s, { type: 'publish', id: 5, channel: 'chat', data: 'hi', cmid: 'c-1' });
    await settle();
    // The client reconnects on another transport and retries: same cmid.
    const t2 = new MemoryTransport('sse');
    const s2 = hub.open(t2, { user: 'ann', channels: null }, hub.sessionKeys.keyFor(s.id));
    send(hub, s2, { type: 'publish', id: 1, channel: 'chat', data: 'hi', cmid: 'c-1' });
    await settle();
    assert.deepEqual(
      t.of('ack').map((a) => [a.id, a.offset]),
      [[5, 1]],
    );
    assert.deepEqual(
      t2.of('ack').map((a) => [a.id, a.offset]),
      [[1, 1]],
    );
    assert.deepEqual(reader.data('chat'), ['hi']);
    assert.deepEqual(reader.of('message')[0]!.from, { session: s.id, user: 'ann' });
  });

  it('refuses with FORBIDDEN what the authorize hook or the token does not allow, and delivers nothing', async () => {
    const { hub } = hubWith({
      authorize: ({ action, channel }) => !(action === 'publish' && channel === 'ro'),
    });
    const t = new MemoryTransport();
    const s = hub.open(t, { user: 'bob', channels: ['ro', 'chat.*'] });
    send(hub, s, { type: 'publish', id: 1, channel: 'ro', data: 'x', cmid: 'a' });
    send(hub, s, { type: 'subscribe', id: 2, channel: 'secret' });
    send(hub, s, { type: 'subscribe', id: 3, channel: 'chat.room1' });
    await settle();
    assert.deepEqual(
      t
        .of('error')
        .map((e) => [e.id, e.code])
        .sort(),
      [
        [1, 'FORBIDDEN'],
        [2, 'FORBIDDEN'],
      ],
    );
    assert.deepEqual(
      t.of('subscribed').map((m) => m.channel),
      ['chat.room1'],
    );
    const r = await hub.broker.recover('ro', null);
    assert.equal(r.top.offset, 0);
  });
});

describe('Hub presence', () => {
  it('tells presence subscribers who joins and leaves, lists members, and forgets an expired session', async () => {
    const { hub, clock } = hubWith({ sessionTtlMs: 1000 });
    const a = new MemoryTransport();
    const sa = hub.open(a, { user: 'ann', channels: null });
    send(hub, sa, { type: 'subscribe', id: 1, channel: 'room', presence: true });
    await settle();
    const b = new MemoryTransport();
    const sb = hub.open(b, { user: 'bob', channels: null });
    send(hub, sb, { type: 'subscribe', id: 1, channel: 'room', presence: true });
    await settle();
    send(hub, sa, { type: 'presence', id: 2, channel: 'room' });
    await settle();
    assert.deepEqual(
      a.of('join').map((j) => j.member.user),
      ['bob'],
    );
    assert.deepEqual(
      a
        .of('presence')[0]!
        .members.map((m) => m.user)
        .sort(),
      ['ann', 'bob'],
    );
    hub.detach(sb, b);
    clock.advance(1500);
    await settle();
    assert.deepEqual(
      a.of('leave').map((j) => j.member.user),
      ['bob'],
    );
  });
});

describe('Hub sessions and liveness', () => {
  it('gives a session back on a new transport within the TTL, and a new one with SESSION_UNKNOWN after it', async () => {
    const { hub, clock } = hubWith({ sessionTtlMs: 1000 });
    const t1 = new MemoryTransport();
    const s = hub.open(t1, anonymous);
    const t2 = new MemoryTransport('polling');
    const again = hub.open(t2, anonymous, hub.sessionKeys.keyFor(s.id));
    assert.equal(again, s);
    assert.equal(t1.closed?.code, 1000);
    assert.equal(t2.of('connected')[0]!.resumed, true);
    hub.detach(s, t2);
    clock.advance(2000);
    const t3 = new MemoryTransport();
    const fresh = hub.open(t3, anonymous, hub.sessionKeys.keyFor(s.id));
    assert.notEqual(fresh.id, s.id);
    assert.deepEqual(
      t3.received.map((m) => ('code' in m ? m.code : m.type)),
      ['SESSION_UNKNOWN', 'connected'],
    );
  });

  it('gives the session key in connected, and resumes with nothing else: not the public id, not a forged key', () => {
    const { hub } = hubWith();
    const t1 = new MemoryTransport();
    const s = hub.open(t1, anonymous);
    const hello = t1.of('connected')[0]!;
    assert.equal(hello.session, s.id);
    assert.equal(hello.key, hub.sessionKeys.keyFor(s.id));
    assert.notEqual(hello.key, s.id);
    for (const attempt of [s.id, `${s.id}.${'A'.repeat(22)}`, `${hello.key}x`, hello.key.slice(0, -1)]) {
      const t = new MemoryTransport();
      const other = hub.open(t, anonymous, attempt);
      assert.notEqual(other, s, attempt);
      assert.equal(t1.closed, null, 'the holder is not disturbed');
      assert.equal(t.received[0]!.type, 'error');
    }
    assert.equal(hub.sessionByKey(hello.key), s);
    assert.equal(hub.sessionByKey(s.id), undefined);
  });

  it('on a resumed session sends connected first, nothing queued for the old transport, and the rest once the client resubscribes', async () => {
    const { hub } = hubWith();
    const t1 = new MemoryTransport();
    const s = hub.open(t1, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed' });
    await settle();
    await hub.publish('feed', 'm1');
    t1.writable = false; // m2 and m3 wait in the queue, then the socket dies
    await hub.publish('feed', 'm2');
    await hub.publish('feed', 'm3');
    hub.detach(s, t1);
    const t2 = new MemoryTransport();
    hub.open(t2, anonymous, hub.sessionKeys.keyFor(s.id));
    await hub.publish('feed', 'm4');
    assert.deepEqual(
      t2.received.map((m) => m.type),
      ['connected'],
    );
    send(hub, s, { type: 'subscribe', id: 2, channel: 'feed', since: { epoch: 'E1', offset: 1 } });
    await settle();
    assert.deepEqual(t2.data('feed'), ['m2', 'm3', 'm4']);
  });

  it('pings every interval, and closes with 4009 a transport from which nothing came within the bound', async () => {
    const { hub, clock } = hubWith({ pingIntervalMs: 1000, livenessTimeoutMs: 3000 });
    const quiet = new MemoryTransport();
    hub.open(quiet, anonymous);
    const alive = new MemoryTransport();
    const s = hub.open(alive, anonymous);
    for (let i = 0; i < 8; i++) {
      clock.advance(500);
      send(hub, s, { type: 'pong' });
    }
    assert.ok(quiet.of('ping').length >= 2);
    assert.equal(quiet.closed?.code, 4009);
    assert.equal(alive.closed, null);
  });

  it('answers bad input with a code and keeps the session, then closes with 4002 after too many in a row', async () => {
    const { hub } = hubWith({ maxMessageBytes: 100, maxStrikes: 5 });
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    hub.receive(s, 'not json');
    send(hub, s, { type: 'teleport', id: 1 });
    send(hub, s, { type: 'publish', id: 2, channel: 'chat', data: 'x'.repeat(200), cmid: 'a' });
    send(hub, s, { type: 'subscribe', id: 3, channel: 'bad channel!' });
    send(hub, s, { type: 'ping' });
    assert.deepEqual(
      t.received
        .filter((m) => m.type === 'error' || m.type === 'pong')
        .map((m) => ('code' in m ? m.code : m.type)),
      ['BAD_MESSAGE', 'UNKNOWN_TYPE', 'TOO_LARGE', 'BAD_CHANNEL', 'pong'],
    );
    assert.equal(t.closed, null);
    for (let i = 0; i < 5; i++) hub.receive(s, '{');
    assert.equal((t.closed as MemoryTransport['closed'])?.code, 4002);
  });
});

describe('Hub slow consumers', () => {
  it('paces a long catch-up by the transport: a resume of 5,000 behind on a stalled transport neither overflows nor gaps', async () => {
    const broker = new MemoryBroker({ history: { maxCount: 10_000 }, newEpoch: () => 'E1' });
    const { hub } = hubWith({ broker, queue: { maxMessages: 2000, policy: 'drop-oldest' } });
    for (let i = 1; i <= 5000; i++) await hub.publish('feed', `m${i}`);
    const t = new MemoryTransport('polling');
    t.writable = false; // a long-poll client between two GETs
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed', since: { epoch: 'E1', offset: 0 } });
    await settle();
    // Live publications meanwhile are held behind the catch-up.
    for (let i = 5001; i <= 5010; i++) await hub.publish('feed', `m${i}`);
    assert.ok(s.queue.length <= 1001, `${s.queue.length} queued`);
    assert.equal(hub.stats().gaps, 0);
    // Each GET takes what is queued; the catch-up goes on behind it.
    for (let polls = 0; t.data('feed').length < 5010 && polls < 50; polls++) {
      t.writable = true;
      hub.drained(s);
      t.writable = false;
      hub.drained(s);
    }
    assert.equal(hub.stats().gaps, 0);
    assert.deepEqual(
      t.data('feed'),
      Array.from({ length: 5010 }, (_, i) => `m${i + 1}`),
    );
  });

  it('drop-oldest: removes the channel from a full queue, sends gap, counts it; a resubscribe from the last offset gets the rest', async () => {
    const { hub } = hubWith({ queue: { maxMessages: 5, policy: 'drop-oldest' } });
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed' });
    await settle();
    await hub.publish('feed', 'm1');
    t.writable = false; // the client stops reading
    for (let i = 2; i <= 10; i++) await hub.publish('feed', `m${i}`);
    assert.equal(hub.stats().gaps, 1);
    t.writable = true;
    hub.drained(s);
    assert.deepEqual(
      t.received.slice(-1).map((m) => m.type),
      ['gap'],
    );
    assert.deepEqual(t.data('feed'), ['m1']);
    send(hub, s, { type: 'subscribe', id: 2, channel: 'feed', since: { epoch: 'E1', offset: 1 } });
    await settle();
    assert.deepEqual(t.data('feed'), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10']);
  });

  it('disconnect: closes the transport with 4008 and counts it', async () => {
    const { hub } = hubWith({ queue: { maxMessages: 3, policy: 'disconnect' } });
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed' });
    await settle();
    t.writable = false;
    for (let i = 1; i <= 5; i++) await hub.publish('feed', `m${i}`);
    assert.equal(t.closed?.code, 4008);
    assert.equal(hub.stats().slowDisconnects, 1);
  });
});

describe('Hub bounds', () => {
  it('holds maxSubscriptions when a burst of subscribes waits on an asynchronous authorize hook', async () => {
    const { hub } = hubWith({
      maxSubscriptions: 100,
      authorize: () => new Promise((resolve) => setTimeout(() => resolve(true), 5)),
    });
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    for (let i = 0; i < 150; i++) send(hub, s, { type: 'subscribe', id: i + 1, channel: `c${i}` });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await settle();
    assert.equal(s.subscriptions.size, 100);
    assert.equal(t.of('subscribed').length, 100);
    assert.equal(
      t.of('error').filter((e) => e.code === 'LIMIT').length,
      50,
      'every subscribe past the bound is refused, also those that passed the first check',
    );
  });

  it('refuses a session past maxSessions (HubFullError), and takes one again once a session ended', async () => {
    const { hub } = hubWith({ maxSessions: 2 });
    const a = hub.open(new MemoryTransport(), anonymous);
    hub.open(new MemoryTransport(), anonymous);
    assert.throws(() => hub.open(new MemoryTransport(), anonymous), { name: 'HubFullError' });
    // A resume is not a new session: it is let in.
    const back = new MemoryTransport();
    assert.equal(hub.open(back, anonymous, hub.sessionKeys.keyFor(a.id)), a);
    send(hub, a, { type: 'bye' });
    assert.equal(hub.session(a.id), undefined);
    assert.deepEqual(back.closed, { code: 1000, reason: 'session ended' });
    assert.equal(hub.open(new MemoryTransport(), anonymous).id, 's3');
  });
});

describe('Hub and a broker that lost publications', () => {
  it('on resync, every live subscription gets what it missed from the history, once', async () => {
    const inner = new MemoryBroker({ newEpoch: () => 'E1' });
    let deliver: ((p: Publication) => void) | null = null;
    let resync: (() => void) | null = null;
    let muted = false;
    const broker: Broker = {
      publish: (c, d, o) => inner.publish(c, d, o),
      recover: (c, s) => inner.recover(c, s),
      listen: (c) => inner.listen(c),
      unlisten: (c) => inner.unlisten(c),
      onPublication: (handler) => {
        deliver = handler;
        inner.onPublication((p) => {
          if (!muted) deliver?.(p);
        });
      },
      join: (c, m) => inner.join(c, m),
      leave: (c, s) => inner.leave(c, s),
      members: (c) => inner.members(c),
      onPresence: (h) => inner.onPresence(h),
      onResync: (handler) => {
        resync = handler;
      },
      close: () => inner.close(),
    };
    const { hub } = hubWith({ broker });
    const t = new MemoryTransport();
    const s = hub.open(t, anonymous);
    send(hub, s, { type: 'subscribe', id: 1, channel: 'feed' });
    await settle();
    await hub.publish('feed', 'a');
    muted = true; // the connection to the broker is down: these are not heard
    await hub.publish('feed', 'b');
    await hub.publish('feed', 'c');
    muted = false;
    assert.deepEqual(t.data('feed'), ['a']);
    (resync as unknown as () => void)();
    await settle();
    assert.deepEqual(t.data('feed'), ['a', 'b', 'c']);
    await hub.publish('feed', 'd');
    assert.deepEqual(t.data('feed'), ['a', 'b', 'c', 'd']);
  });
});
