import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionKeys } from '../../src/session/session-keys.js';

describe('SessionKeys', () => {
  it('makes a key that names its session id and checks it, under the same secret only', () => {
    const a = new SessionKeys('a secret of sixteen bytes or more');
    const key = a.keyFor('3f0c-id');
    assert.match(key, /^3f0c-id\.[A-Za-z0-9_-]{22}$/);
    assert.equal(a.idOf(key), '3f0c-id');
    assert.equal(
      new SessionKeys('a secret of sixteen bytes or more').idOf(key),
      '3f0c-id',
      'another node, same secret',
    );
    assert.equal(new SessionKeys('another secret, sixteen bytes+').idOf(key), null);
    assert.equal(new SessionKeys().idOf(key), null, 'a random secret per process by default');
  });

  it('refuses a bare id, a forged or truncated MAC, and another id with this MAC', () => {
    const keys = new SessionKeys();
    const key = keys.keyFor('victim');
    const mac = key.slice(key.indexOf('.') + 1);
    for (const bad of [
      'victim',
      `victim.${'A'.repeat(22)}`,
      key.slice(0, -1),
      `${key}A`,
      `eve.${mac}`,
      '.',
      `.${mac}`,
    ]) {
      assert.equal(keys.idOf(bad), null, bad);
    }
  });

  it('tells a protocol version 1 value (a bare id) from a key', () => {
    assert.equal(SessionKeys.isLegacy('3f0c0f5e-0d6a-4c53-9c1f-3a3b3c3d3e3f'), true);
    assert.equal(SessionKeys.isLegacy(new SessionKeys().keyFor('x')), false);
  });

  it('takes another secret with use(): keys made before stop working', () => {
    const keys = new SessionKeys();
    const before = keys.keyFor('s');
    keys.use(Buffer.alloc(32, 7));
    assert.equal(keys.idOf(before), null);
    assert.equal(keys.idOf(keys.keyFor('s')), 's');
    assert.throws(() => keys.use('short'), RangeError);
  });
});
