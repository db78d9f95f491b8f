import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hasToken, headerString, isToken, splitList } from '../../src/util/tokens.js';

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

describe('tokens', () => {
  it('isToken accepts exactly the non-empty strings of RFC 7230 tchars', () => {
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      assert.equal(isToken(ch), TCHARS.includes(ch), `char ${c}`);
    }
    assert.equal(isToken(''), false);
    assert.equal(isToken('permessage-deflate'), true);
    assert.equal(isToken('chat v2'), false);
    assert.equal(isToken('a"b'), false);
    assert.equal(isToken('é'), false);
  });

  it('splitList trims optional whitespace and drops empty elements', () => {
    assert.deepEqual(splitList(' a ,b,, ,\tc\t'), ['a', 'b', 'c']);
    assert.deepEqual(splitList(''), []);
    assert.deepEqual(splitList(' , '), []);
  });

  it('hasToken finds a token case-insensitively in a list ("keep-alive, UPGRADE")', () => {
    assert.equal(hasToken('keep-alive, UPGRADE', 'upgrade'), true);
    assert.equal(hasToken('Upgrade', 'upgrade'), true);
    assert.equal(hasToken('keep-alive,upgrade ', 'Upgrade'), true);
    assert.equal(hasToken('keep-alive', 'upgrade'), false);
    assert.equal(hasToken('upgraded', 'upgrade'), false);
    assert.equal(hasToken('up grade', 'upgrade'), false);
    assert.equal(hasToken(undefined, 'upgrade'), false);
  });

  it('hasToken finds any member of a random list whatever its case and surrounding whitespace', () => {
    const token = fc.stringMatching(/^[a-zA-Z0-9-]{1,12}$/);
    const ows = fc.constantFrom('', ' ', '\t', '  ');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(ows, token, ows), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (items, pick) => {
          const value = items.map(([a, t, b]) => a + t + b).join(',');
          const wanted = items[pick % items.length]![1];
          assert.equal(hasToken(value, wanted.toUpperCase()), true);
          assert.equal(hasToken(value, wanted.toLowerCase()), true);
          assert.equal(hasToken(value, `${wanted}x,`), false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('headerString joins array header values with ", "', () => {
    assert.equal(headerString(['a', 'b']), 'a, b');
    assert.equal(headerString('x'), 'x');
    assert.equal(headerString(undefined), undefined);
  });
});
