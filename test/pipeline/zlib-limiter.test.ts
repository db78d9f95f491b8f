import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ZlibLimiter } from '../../src/pipeline/zlib-limiter.js';

describe('ZlibLimiter', () => {
  it('runs at most `concurrency` jobs at once and starts the waiting ones in order', () => {
    const limiter = new ZlibLimiter(2);
    const started: number[] = [];
    for (let i = 0; i < 5; i++) limiter.run(() => started.push(i));
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(limiter.stats, { active: 2, waiting: 3 });
    limiter.release();
    assert.deepEqual(started, [0, 1, 2]);
    limiter.release();
    limiter.release();
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    limiter.release();
    limiter.release();
    assert.deepEqual(limiter.stats, { active: 0, waiting: 0 });
  });

  it('starts waiting jobs at once when the limit is raised', () => {
    const limiter = new ZlibLimiter(1);
    const started: number[] = [];
    for (let i = 0; i < 3; i++) limiter.run(() => started.push(i));
    limiter.concurrency = 3;
    assert.deepEqual(started, [0, 1, 2]);
  });

  it('refuses a limit below one', () => {
    const limiter = new ZlibLimiter(1);
    assert.throws(() => {
      limiter.concurrency = 0;
    }, RangeError);
  });
});
