import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer } from '../../src/server/serve.js';
import { Histogram } from '../../src/util/histogram.js';
import { wsClient } from '../support/hub-clients.js';

/** name{labels} -> value, checking every line against the text format as it goes. */
function parse(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-z_]+(?:\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})?) (-?[0-9.e+]+|NaN)$/.exec(line);
    assert.ok(m !== null, `not in the text format: ${line}`);
    values.set(m[1]!, Number(m[2]));
  }
  return values;
}

describe('GET /metrics and /healthz', () => {
  it('reports connections by transport, messages, publications and broker latency in the Prometheus format', async () => {
    const server = await startServer({ port: 0 });
    try {
      const client = await wsClient(server.url);
      await client.send({ type: 'subscribe', id: 1, channel: 'm' });
      await client.next('subscribed');
      await client.send({ type: 'publish', id: 2, channel: 'm', data: 'x', cmid: 'c1' });
      await client.next('message');
      const res = await fetch(`${server.url}/metrics`);
      assert.match(String(res.headers.get('content-type')), /^text\/plain; version=0\.0\.4/);
      const values = parse(await res.text());
      assert.equal(values.get('conduit_hub_connections{transport="websocket"}'), 1);
      assert.equal(values.get('conduit_hub_connections{transport="sse"}'), 0);
      assert.equal(values.get('conduit_hub_messages_in_total'), 2);
      // connected, subscribed, ack, message
      assert.equal(values.get('conduit_hub_messages_out_total'), 4);
      assert.ok((values.get('conduit_hub_bytes_out_total') ?? 0) > 100);
      assert.equal(values.get('conduit_hub_publications_total'), 1);
      assert.equal(values.get('conduit_broker_publish_seconds_count'), 1);
      assert.equal(values.get('conduit_broker_publish_seconds_bucket{le="+Inf"}'), 1);
      assert.equal(values.has('conduit_redis_up{state="ready"}'), false);
      assert.equal(await (await fetch(`${server.url}/healthz`)).text(), 'ok\n');
      client.kill();
    } finally {
      await server.close();
    }
  });

  it('says whether Redis is up when the hub runs on it', async () => {
    const server = await startServer({ port: 0, redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
    try {
      const values = parse(await (await fetch(`${server.url}/metrics`)).text());
      assert.equal(values.get('conduit_redis_up{state="ready"}'), 1);
      assert.equal(await (await fetch(`${server.url}/healthz`)).text(), 'ok\n');
    } finally {
      await server.close();
    }
  });
});

describe('Histogram', () => {
  it('counts observations into cumulative buckets, with sum and count', () => {
    const h = new Histogram([1, 10]);
    for (const v of [0.5, 1, 5, 50]) h.observe(v);
    assert.deepEqual(h.cumulative(), [
      { le: '1', count: 2 },
      { le: '10', count: 3 },
      { le: '+Inf', count: 4 },
    ]);
    assert.deepEqual([h.sum, h.count], [56.5, 4]);
  });
});
