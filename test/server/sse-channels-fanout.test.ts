import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SseEvent } from '../../src/protocol/sse/parser.js';
import { SseChannels } from '../../src/server/sse-channels.js';
import { readEvents } from '../support/sse.js';

let server: Server;
let channels: SseChannels;
let port: number;

before(async () => {
  channels = new SseChannels();
  server = createServer((req, res) => {
    // /sse?channel=NAME&early=a,b publishes a and b on the channel, then subscribes, in one turn.
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const early = query.get('early');
    if (early !== null) for (const text of early.split(',')) channels.publishTo(query.get('channel')!, text);
    channels.subscribe(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  channels.closeAll();
  await new Promise((resolve) => server.close(resolve));
});

/** A raw HTTP/1.1 subscriber: resolves once the response head arrived; `body` is what came after. */
function rawSubscriber(path: string): Promise<{ body: () => string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let open = false;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n\r\n');
      if (!open && end !== -1) {
        open = true;
        assert.match(text, /^HTTP\/1\.1 200 /);
        text = text.slice(end + 4);
        resolve({ body: () => text, close: () => socket.destroy() });
      }
    });
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Read events from /sse until `count` arrived. */
function read(path: string, count: number, headers: Record<string, string> = {}): Promise<SseEvent[]> {
  return readEvents(`http://127.0.0.1:${port}${path}`, count, headers);
}

describe('SseChannels fan-out', () => {
  it('writes the events published in one turn to a subscriber as one write (one HTTP/1.1 chunk)', async () => {
    const sub = await rawSubscriber('/sse?channel=turn');
    await until(() => sub.body().length > 0, 'the opening comment');
    const opening = sub.body();
    channels.publishTo('turn', 'a');
    channels.publishTo('turn', 'b');
    channels.publishTo('turn', 'c');
    const events = 'id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n';
    await until(() => sub.body().includes('data: c'), 'the events');
    sub.close();
    assert.equal(sub.body(), `${opening}${events.length.toString(16)}\r\n${events}\r\n`);
  });

  it('gives a subscriber that arrives while events of the turn are pending each event once, in order', async () => {
    const first = read('/sse?channel=late', 3);
    await until(() => channelSize('late') === 1, 'the first subscriber');
    // The request publishes x and y, then subscribes from id 0, all in the same turn.
    const second = read('/sse?channel=late&early=x,y', 3, { 'Last-Event-ID': '0' });
    await until(() => channelSize('late') === 2, 'the second subscriber');
    channels.publishTo('late', 'z');
    const expected = [
      ['1', 'x'],
      ['2', 'y'],
      ['3', 'z'],
    ];
    assert.deepEqual(
      (await first).map((e) => [e.lastEventId, e.data]),
      expected,
    );
    assert.deepEqual(
      (await second).map((e) => [e.lastEventId, e.data]),
      expected,
    );
  });
});

function channelSize(name: string): number {
  // biome-ignore lint/complexity/useLiteralKeys: reading a private field in a test
  return channels['channels'].get(name)?.subscribers.size ?? 0;
}
