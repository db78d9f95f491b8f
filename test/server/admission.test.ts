/**
 * Admission control's rules, on their own: addresses (IPv4-mapped, IPv6 /64, trusted proxies), the
 * new-session bucket, sessions held, handshakes in flight.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { HandshakeError } from '../../src/protocol/errors.js';
import { Admission, normalizeAddress } from '../../src/server/admission.js';

function request(peer: string, forwardedFor?: string): IncomingMessage {
  return {
    socket: { remoteAddress: peer },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  } as unknown as IncomingMessage;
}

describe('Admission', () => {
  it('counts IPv4-mapped IPv6 as IPv4 and IPv6 by its /64', () => {
    assert.equal(normalizeAddress('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(normalizeAddress('127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('2001:db8:0:1:aaaa::1'), '2001:db8:0:1::/64');
    assert.equal(normalizeAddress('2001:0db8:0000:0001:ffff:0:0:2'), '2001:db8:0:1::/64');
    assert.equal(normalizeAddress('::1'), '0:0:0:0::/64');
  });

  it('believes X-Forwarded-For only from a trusted proxy, taking its rightmost untrusted hop', () => {
    const admission = new Admission({ trustedProxies: ['10.0.0.1', '10.0.0.2'] });
    assert.equal(admission.clientAddress(request('203.0.113.9', '198.51.100.1')), '203.0.113.9');
    assert.equal(admission.clientAddress(request('10.0.0.1', '198.51.100.1')), '198.51.100.1');
    // A client that forges the header adds hops on the left: the rightmost untrusted one counts.
    assert.equal(
      admission.clientAddress(request('10.0.0.1', '6.6.6.6, 198.51.100.1, 10.0.0.2')),
      '198.51.100.1',
    );
    assert.equal(admission.clientAddress(request('10.0.0.1')), '10.0.0.1');
    admission.close();
  });

  it('lets an address open a burst of new sessions, then about `newSessionsPerSecond`, with Retry-After', () => {
    let now = 0;
    const admission = new Admission({ newSessionsPerSecond: 10, newSessionsBurst: 50, now: () => now });
    let opened = 0;
    for (let i = 0; i < 100; i++) {
      if (admission.newSession('a') === null) admission.sessionOpened(`s${opened++}`, 'a');
    }
    assert.equal(opened, 50);
    const refusal = admission.newSession('a');
    assert.equal(refusal?.status, 429);
    assert.equal(refusal?.reason, 'session_rate');
    assert.equal(refusal?.retryAfterSeconds, 1);
    assert.equal(admission.newSession('b'), null, 'another address is not concerned');
    now += 1000;
    for (let i = 0; i < 100; i++) {
      if (admission.newSession('a') === null) admission.sessionOpened(`s${opened++}`, 'a');
    }
    assert.equal(opened, 60, 'ten more a second later');
    assert.equal(admission.refused.session_rate > 0, true);
    admission.close();
  });

  it('caps the sessions held per address and frees a place when one ends', () => {
    let now = 0;
    const admission = new Admission({ maxSessionsPerAddress: 3, newSessionsBurst: 10, now: () => now });
    for (let i = 0; i < 3; i++) admission.sessionOpened(`s${i}`, 'a');
    assert.equal(admission.newSession('a')?.reason, 'sessions');
    admission.sessionEnded('s1');
    assert.equal(admission.newSession('a'), null);
    now += 60_000;
    for (const id of ['s0', 's2']) admission.sessionEnded(id);
    assert.equal(admission.addresses, 0, 'an idle address is forgotten');
    admission.close();
  });

  it('refuses handshakes past the per-address and global bounds with 503 and Retry-After', () => {
    const admission = new Admission({ maxHandshakesPerAddress: 2, maxHandshakes: 3 });
    const a1 = admission.admitHandshake(request('1.1.1.1'));
    const a2 = admission.admitHandshake(request('1.1.1.1'));
    const a3 = admission.admitHandshake(request('1.1.1.1'));
    assert.ok(a3 instanceof HandshakeError);
    assert.equal(a3.status, 503);
    assert.equal(a3.headers['Retry-After'], '1');
    const b1 = admission.admitHandshake(request('2.2.2.2'));
    assert.equal(typeof b1, 'function');
    assert.ok(admission.admitHandshake(request('3.3.3.3')) instanceof HandshakeError, 'global bound');
    assert.equal(admission.handshakesInFlight, 3);
    for (const done of [a1, a2, b1]) if (typeof done === 'function') done();
    assert.equal(admission.handshakesInFlight, 0);
    assert.equal(typeof admission.admitHandshake(request('1.1.1.1')), 'function');
    admission.close();
  });
});
