import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SseEvent } from '../../src/protocol/sse/parser.js';
import { SseChannels } from '../../src/server/sse-channels.js';
import { readEvents } from '../support/sse.js';

let server: Server;
let channels: SseChannels;
let port: number;

before(async () => {
  channels = new SseChannels({ maxReplayBytesTotal: 1000 });
  server = createServer((req, res) => channels.subscribe(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  channels.closeAll();
  await new Promise((resolve) => server.close(resolve));
});

/** Read `count` events of /sse?channel=NAME, resuming from `lastEventId`. */
function read(channel: string, count: number, lastEventId: string): Promise<SseEvent[]> {
  return readEvents(`http://127.0.0.1:${port}/sse?channel=${channel}`, count, {
    'Last-Event-ID': lastEventId,
  });
}

function hasChannel(name: string): boolean {
  // biome-ignore lint/complexity/useLiteralKeys: reading a private field in a test
  return channels['channels'].has(name);
}

describe('SseChannels memory bounds', () => {
  it('past maxReplayBytesTotal drops the least recently published idle channel; its ids go on and a resuming client is told of the gap', async () => {
    const text = 'x'.repeat(400);
    assert.equal(channels.publishTo('a', text), 1);
    assert.equal(channels.publishTo('b', text), 1);
    assert.equal(channels.publishTo('c', text), 1); // 1,200 bytes kept: 'a' goes
    assert.equal(hasChannel('a'), false);
    assert.deepEqual(
      (await read('b', 1, '0')).map((e) => [e.lastEventId, e.data]),
      [['1', text]],
    );
    const resumed = await read('a', 1, '0');
    assert.equal(resumed[0]!.type, 'gap');
    assert.deepEqual(JSON.parse(resumed[0]!.data), { requested: '0', oldest: null });
    assert.equal(channels.publishTo('a', 'again'), 2);
  });

  it('trims the oldest events of the channel published to when every other channel has a subscriber', async () => {
    const reading = read('d', 3, '0');
    const text = 'y'.repeat(300);
    channels.publishTo('d', text); // d: 300
    channels.publishTo('d', text); // d: 600
    channels.publishTo('d', text); // d: 900, with b and c over 1,000 in all: b and c go (idle), d stays
    assert.equal(hasChannel('b'), false);
    assert.equal(hasChannel('c'), false);
    assert.deepEqual(
      (await reading).map((e) => e.lastEventId),
      ['1', '2', '3'],
    );
    channels.publishTo('d', text); // 1,200 and nothing idle left but 'a' (5 bytes): d loses its oldest
    const replay = await read('d', 1, '0');
    assert.equal(replay[0]!.type, 'gap');
    assert.deepEqual(JSON.parse(replay[0]!.data), { requested: '0', oldest: 2 });
  });

  it('forgets a channel that never had an event once its last subscriber leaves', async () => {
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/sse?channel=empty`, { signal: controller.signal });
    assert.equal(res.status, 200);
    assert.equal(hasChannel('empty'), true);
    controller.abort();
    const deadline = Date.now() + 3000;
    while (hasChannel('empty')) {
      assert.ok(Date.now() < deadline, 'the channel is still there');
      await new Promise((r) => setTimeout(r, 5));
    }
  });
});
