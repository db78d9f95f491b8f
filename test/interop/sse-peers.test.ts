/**
 * `conduit serve`'s /sse and /publish against the SSE client users reach for in Node: the npm
 * `eventsource` package (v4, WHATWG-compatible), including its reconnection with Last-Event-ID.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { EventSource as NpmEventSource } from 'eventsource';
import { EventStreamParser } from '../../src/protocol/sse/parser.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { collectEvents, waitForSubscribers } from '../support/sse.js';

let conduit: RunningServer;
before(async () => {
  conduit = await startServer({ port: 0, sse: { replay: 4, stream: { retryMs: 50, keepAliveMs: 0 } } });
});
after(() => conduit.close());

const publish = (channel: string, body: string) =>
  fetch(`${conduit.url}/publish?channel=${channel}`, { method: 'POST', body }).then((r) => r.json());

describe('npm eventsource against conduit serve /sse', () => {
  it('receives published events, and resumes with Last-Event-ID after the server ends the stream', async () => {
    const source = new NpmEventSource(`${conduit.url}/sse?channel=peer`);
    try {
      await once(source, 'open');
      await waitForSubscribers(conduit, 'peer', 1);
      const first = collectEvents(source, 'message', 2);
      await publish('peer', 'one');
      await publish('peer', 'two');
      assert.deepEqual(
        (await first).map((e) => [e.lastEventId, e.data]),
        [
          ['1', 'one'],
          ['2', 'two'],
        ],
      );
      const rest = collectEvents(source, 'message', 3);
      conduit.channels.closeAll();
      await publish('peer', 'three'); // while it is away
      await waitForSubscribers(conduit, 'peer', 1);
      await publish('peer', 'four');
      await publish('peer', 'five');
      assert.deepEqual(
        (await rest).map((e) => [e.lastEventId, e.data]),
        [
          ['3', 'three'],
          ['4', 'four'],
          ['5', 'five'],
        ],
      );
    } finally {
      source.close();
    }
  });

  it('gets the named gap event when its id is older than the replay buffer', async () => {
    for (let i = 1; i <= 10; i++) await publish('peer-gap', `m${i}`);
    // The npm client sends the id it was given through its own reconnection; start from one here.
    const source = new NpmEventSource(`${conduit.url}/sse?channel=peer-gap&lastEventId=2`);
    try {
      const gap = collectEvents(source, 'gap', 1);
      const messages = collectEvents(source, 'message', 4);
      assert.deepEqual(JSON.parse((await gap)[0]!.data), { requested: '2', oldest: 7 });
      assert.deepEqual(
        (await messages).map((e) => e.data),
        ['m7', 'm8', 'm9', 'm10'],
      );
    } finally {
      source.close();
    }
  });
});

describe('curl -N against conduit serve /sse', () => {
  it('streams each published event as it happens, and replays from a Last-Event-ID header', async () => {
    await publish('curl', 'before');
    const curl = spawn('curl', [
      '-sN',
      '--max-time',
      '3',
      '-H',
      'Last-Event-ID: 0',
      `${conduit.url}/sse?channel=curl`,
    ]);
    const parser = new EventStreamParser();
    const data: string[] = [];
    let onData: () => void = () => {};
    curl.stdout.on('data', (chunk: Buffer) => {
      for (const item of parser.feed(chunk)) if (item.kind === 'event') data.push(item.data);
      onData();
    });
    const until = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`curl got ${data.length} events`)), 2500);
        onData = () => {
          if (data.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        onData();
      });
    try {
      await until(1); // the replay from id 0
      await publish('curl', 'live one');
      await until(2);
      await publish('curl', 'live two');
      await until(3);
      assert.deepEqual(data, ['before', 'live one', 'live two']);
    } finally {
      curl.kill();
    }
  });
});
