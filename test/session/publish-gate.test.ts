import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PublishGate } from '../../src/session/publish-gate.js';

/** A task that finishes when told; records when it started. */
function controlled(log: string[], name: string) {
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    run: async () => {
      log.push(name);
      await done;
    },
    finish: () => finish(),
  };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('PublishGate', () => {
  it('starts each key in order, at most inFlightPerSession at once, the rest as earlier ones finish', async () => {
    const gate = new PublishGate<string>({ inFlightPerSession: 2 });
    const started: string[] = [];
    const tasks = Array.from({ length: 5 }, (_, i) => controlled(started, `a${i}`));
    for (const t of tasks) assert.equal(gate.submit('a', 1, t.run), true);
    await turn();
    assert.deepEqual(started, ['a0', 'a1']);
    assert.deepEqual([gate.inFlight, gate.queued], [2, 3]);
    tasks[1]!.finish();
    await turn();
    assert.deepEqual(started, ['a0', 'a1', 'a2']);
    for (const t of tasks) t.finish();
    for (let i = 0; i < 5; i++) await turn();
    assert.deepEqual(started, ['a0', 'a1', 'a2', 'a3', 'a4']);
    assert.deepEqual([gate.inFlight, gate.queued], [0, 0]);
  });

  it('bounds the publishes of all keys together, and lets waiting keys go in the order they waited', async () => {
    const gate = new PublishGate<string>({ inFlight: 2 });
    const started: string[] = [];
    const a = controlled(started, 'a');
    const b = controlled(started, 'b');
    const c = controlled(started, 'c');
    const d = controlled(started, 'd');
    gate.submit('a', 1, a.run);
    gate.submit('b', 1, b.run);
    gate.submit('c', 1, c.run);
    gate.submit('d', 1, d.run);
    await turn();
    assert.deepEqual(started, ['a', 'b']);
    a.finish();
    await turn();
    await turn();
    assert.deepEqual(started, ['a', 'b', 'c']);
    for (const t of [b, c, d]) t.finish();
  });

  it('under the bound of all, a key that keeps publishing does not starve one that waited', async () => {
    const gate = new PublishGate<string>({ inFlight: 1, inFlightPerSession: 5 });
    const started: string[] = [];
    const tasks = new Map<string, ReturnType<typeof controlled>>();
    const submit = (name: string) => {
      const task = controlled(started, name);
      tasks.set(name, task);
      gate.submit(name[0]!, 1, task.run);
    };
    submit('a0');
    submit('a1');
    submit('b0');
    submit('a2');
    await turn();
    assert.deepEqual(started, ['a0']);
    tasks.get('a0')!.finish();
    await turn();
    await turn();
    // 'a' waited first (a1), then 'b' gets its turn before a2.
    assert.deepEqual(started, ['a0', 'a1']);
    tasks.get('a1')!.finish();
    await turn();
    await turn();
    assert.deepEqual(started, ['a0', 'a1', 'b0']);
    for (const task of tasks.values()) task.finish();
  });

  it('refuses past the queue bounds (per key, and bytes of all), keeping nothing of what it refused', async () => {
    const gate = new PublishGate<string>({ inFlightPerSession: 1, queuedPerSession: 2, queuedBytes: 10 });
    const started: string[] = [];
    const first = controlled(started, 'first');
    assert.equal(gate.submit('a', 1, first.run), true);
    assert.equal(gate.submit('a', 1, controlled(started, 'q1').run), true);
    assert.equal(gate.submit('a', 1, controlled(started, 'q2').run), true);
    assert.equal(gate.submit('a', 1, controlled(started, 'q3').run), false);
    // In flight does not count as queued: b0 starts whatever its size.
    assert.equal(gate.submit('b', 50, controlled(started, 'b0').run), true);
    assert.equal(gate.submit('b', 4, controlled(started, 'b1').run), true);
    assert.equal(gate.submit('c', 1, controlled(started, 'c0').run), true);
    // Queued in all: 2 (a) + 4 (b1) = 6; 5 more would pass 10.
    assert.equal(gate.submit('b', 5, controlled(started, 'b2').run), false);
    assert.equal(gate.queued, 3);
    gate.drop('a');
    assert.equal(gate.queued, 1);
    first.finish();
    await turn();
    await turn();
    assert.deepEqual(started.sort(), ['b0', 'c0', 'first']);
  });

  it('goes on when a task throws', async () => {
    const gate = new PublishGate<string>({ inFlightPerSession: 1 });
    const started: string[] = [];
    gate.submit('a', 1, () => Promise.reject(new Error('broker down')));
    gate.submit('a', 1, async () => {
      started.push('next');
    });
    for (let i = 0; i < 3; i++) await turn();
    assert.deepEqual(started, ['next']);
    assert.equal(gate.inFlight, 0);
  });
});
