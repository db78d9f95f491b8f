/**
 * Chaos: one publisher sends 100,000 sequenced messages to a channel while 20 subscribers over mixed
 * transports (WebSocket, SSE+POST, long-polling; Conduit's Node client) have their connections killed
 * at random by a TCP proxy (test/support/chaos-proxy.ts), the publisher's included. Every subscriber must
 * end with exactly the 100,000 messages, in order, none repeated; every publish acked once. The server
 * runs in a process of its own. Bounded: fails after CHAOS_DEADLINE_MS. Reports resume times.
 *
 * CHAOS_MESSAGES and CHAOS_SEED change the run (defaults 100000 and a fixed seed).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ConduitClient, TransportKind } from '../../src/client/index.js';
import { connectHub } from '../../src/client/node.js';
import { type ChaosProxy, startChaosProxy } from '../support/chaos-proxy.js';
import { Rng } from '../support/random.js';

const MESSAGES = Number(process.env.CHAOS_MESSAGES ?? 100_000);
const SEED = Number(process.env.CHAOS_SEED ?? 20261203);
const DEADLINE_MS = Number(process.env.CHAOS_DEADLINE_MS ?? 240_000);
const TRANSPORTS: TransportKind[] = [
  ...Array<TransportKind>(7).fill('websocket'),
  ...Array<TransportKind>(7).fill('sse'),
  ...Array<TransportKind>(6).fill('polling'),
];
const CHANNEL = 'chaos.seq';
const WINDOW = 500;
const CHILD = fileURLToPath(new URL('../support/hub-server-child.js', import.meta.url));

let child: ChildProcess;
let proxy: ChaosProxy;

before(async () => {
  child = fork(CHILD, [
    JSON.stringify({ hub: { history: { maxCount: MESSAGES * 2, maxBytes: 256 * 1024 * 1024 } } }),
  ]);
  const [message] = (await once(child, 'message')) as [{ port: number }];
  proxy = await startChaosProxy({ host: '127.0.0.1', port: message.port }, new Rng(SEED), {
    min: 300,
    max: 3000,
  });
});
after(async () => {
  await proxy?.close();
  child?.disconnect();
});

interface Subscriber {
  kind: TransportKind;
  client: ConduitClient;
  data: string[];
  resumes: number[];
  duplicatesOrHoles: string[];
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? 0
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

describe('hub chaos', () => {
  it(`delivers ${MESSAGES} sequenced messages exactly once, in order, to 20 subscribers whose connections are killed at random`, async (t) => {
    const started = Date.now();
    const subscribers: Subscriber[] = TRANSPORTS.map((kind) => {
      const client = connectHub(proxy.url, { transports: [kind] });
      const s: Subscriber = { kind, client, data: [], resumes: [], duplicatesOrHoles: [] };
      const sub = client.subscribe(CHANNEL, (m) => {
        if (m.data !== String(s.data.length)) s.duplicatesOrHoles.push(`${s.data.length}: got ${m.data}`);
        s.data.push(m.data);
      });
      let lostAt: number | null = null;
      client.on('disconnected', () => {
        lostAt ??= Date.now();
      });
      sub.on('subscribed', (info) => {
        if (info.resumed && lostAt !== null) s.resumes.push(Date.now() - lostAt);
        if (!info.recovered) s.duplicatesOrHoles.push(`not recovered: ${info.reason}`);
        lostAt = null;
      });
      return s;
    });
    await Promise.all(
      subscribers.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.client.state === 'connected') resolve();
            else s.client.on('connected', () => resolve());
          }),
      ),
    );
    // Every subscription in place before the first publish (the stream starts at "now").
    await new Promise((r) => setTimeout(r, 300));

    const publisher = connectHub(proxy.url, { transports: ['websocket'], maxPendingPublishes: WINDOW * 2 });
    const offsets = new Set<number>();
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < MESSAGES; i++) {
      if (Date.now() - started > DEADLINE_MS) throw new Error(`deadline: published ${i}`);
      const p: Promise<unknown> = publisher.publish(CHANNEL, String(i)).then((ack) => {
        offsets.add(ack.offset);
        inFlight.delete(p);
      });
      inFlight.add(p);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const published = Date.now();
    assert.equal(offsets.size, MESSAGES, 'every publish acked at an offset of its own');

    while (subscribers.some((s) => s.data.length < MESSAGES)) {
      if (Date.now() - started > DEADLINE_MS) {
        throw new Error(
          `deadline: received ${subscribers.map((s) => `${s.kind} ${s.data.length}`).join(', ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const done = Date.now();
    await new Promise((r) => setTimeout(r, 300)); // anything more would be a repeat
    publisher.close();
    for (const s of subscribers) s.client.close();

    for (const s of subscribers) {
      assert.deepEqual(s.duplicatesOrHoles, [], `${s.kind} subscriber`);
      assert.equal(s.data.length, MESSAGES, `${s.kind} subscriber: ${s.data.length} messages`);
    }
    const resumes = subscribers.flatMap((s) => s.resumes).sort((a, b) => a - b);
    const byKind = Object.fromEntries(
      (['websocket', 'sse', 'polling'] as const).map((kind) => {
        const r = subscribers
          .filter((s) => s.kind === kind)
          .flatMap((s) => s.resumes)
          .sort((a, b) => a - b);
        return [
          kind,
          { resumes: r.length, p50: percentile(r, 50), p99: percentile(r, 99), max: r.at(-1) ?? 0 },
        ];
      }),
    );
    const report = {
      messages: MESSAGES,
      subscribers: subscribers.length,
      seed: SEED,
      kills: proxy.kills,
      publishMs: published - started,
      totalMs: done - started,
      resumes: resumes.length,
      resumeMs: {
        p50: percentile(resumes, 50),
        p90: percentile(resumes, 90),
        p99: percentile(resumes, 99),
        max: resumes.at(-1) ?? 0,
      },
      byKind,
    };
    assert.ok(resumes.length >= 20, `${resumes.length} resumes: the chaos must have bitten`);
    writeFileSync('/tmp/conduit-chaos.json', `${JSON.stringify(report, null, 2)}\n`);
    t.diagnostic(JSON.stringify(report));
  });
});
