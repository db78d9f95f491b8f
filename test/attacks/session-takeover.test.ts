/**
 * Attack: taking over another client's session with its public id (issue: `message.from.session` and
 * presence members carry it, and it was all it took: POST /hub/send?session=ID posted as the victim,
 * GET /hub/sse?session=ID resumed it, closed the victim's socket and streamed its messages). Now only
 * the session key of `connected`, which only the client holds, resumes, posts or polls.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { RunningServer } from '../../src/server/serve.js';
import { startTarget } from '../support/attack.js';
import { type HubTestClient, post, sseClient, wsClient } from '../support/hub-clients.js';

describe('attack: session takeover with a public session id', { timeout: 30_000 }, () => {
  let server: RunningServer;
  let victim: HubTestClient & { ws: WebSocket };
  let attacker: HubTestClient;
  let victimId = '';

  before(async () => {
    server = await startTarget();
    victim = await wsClient(server.url);
    attacker = await wsClient(server.url);
    await attacker.send({ type: 'subscribe', id: 1, channel: 'room', presence: true });
    await attacker.next('subscribed');
    await victim.send({ type: 'subscribe', id: 1, channel: 'room', presence: true });
    await victim.next('subscribed');
    await victim.send({ type: 'publish', id: 2, channel: 'room', data: 'hello', cmid: 'v1' });
    // What the attacker sees of the victim: its public id, in `from` and in presence.
    const seen = await attacker.next('message');
    victimId = seen.from!.session;
    assert.equal((await attacker.next('join')).member.session, victimId);
    assert.equal(victimId, victim.session);
  });

  after(async () => {
    victim.kill();
    attacker.kill();
    await server.close();
  });

  /** The victim is untouched: its socket open, and it still gets the channel's messages. */
  async function assertVictimUntouched(marker: string): Promise<void> {
    assert.equal(victim.ws.readyState, 1, 'the victim socket is still open');
    await server.hub.publish('room', marker);
    for (;;) {
      const m = await victim.next('message');
      if (m.data === marker) break;
    }
  }

  it('refuses a POST naming the public id (400 SESSION_KEY_REQUIRED) or a forged key (404)', async () => {
    const bare = await post(server.url, victimId, [
      { type: 'publish', id: 9, channel: 'room', data: 'x', cmid: 'a1' },
    ]);
    assert.equal(bare.status, 400);
    assert.equal(((await bare.json()) as { code: string }).code, 'SESSION_KEY_REQUIRED');
    const forged = await post(server.url, `${victimId}.${'A'.repeat(22)}`, [
      { type: 'publish', id: 9, channel: 'room', data: 'x', cmid: 'a2' },
    ]);
    assert.equal(forged.status, 404);
    assert.equal(((await forged.json()) as { code: string }).code, 'SESSION_UNKNOWN');
    const recovered = await server.hub.broker.recover('room', null);
    assert.equal(recovered.top.offset, 1, 'nothing was published as the victim');
    await assertVictimUntouched('after the POSTs');
  });

  it('refuses to resume over SSE with the public id (400) and gives a forged key a new session', async () => {
    const bare = await fetch(`${server.url}/hub/sse?session=${victimId}`);
    assert.equal(bare.status, 400);
    assert.equal(((await bare.json()) as { code: string }).code, 'SESSION_KEY_REQUIRED');
    const forged = await sseClient(server.url, `?session=${victimId}.${'B'.repeat(22)}`);
    assert.equal((await forged.next('error')).code, 'SESSION_UNKNOWN');
    const hello = await forged.next('connected');
    assert.equal(hello.resumed, false);
    assert.notEqual(hello.session, victimId);
    forged.kill();
    await assertVictimUntouched('after the SSE attempts');
  });

  it('refuses a WebSocket resume with the public id (SESSION_KEY_REQUIRED, close 4003)', async () => {
    // The connection opens, is told why, and is closed with 4003.
    const bare = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws?session=${victimId}`, 'conduit.v1');
    const got: { type: string; code?: string }[] = [];
    bare.on('message', (data) => got.push(JSON.parse(String(data)) as { type: string; code?: string }));
    const [code] = (await once(bare, 'close')) as [number];
    assert.equal(code, 4003);
    assert.deepEqual(
      got.map((m) => [m.type, m.code]),
      [['error', 'SESSION_KEY_REQUIRED']],
    );
    const forged = await wsClient(server.url, `?session=${victimId}.${'C'.repeat(22)}`);
    assert.equal((await forged.next('error')).code, 'SESSION_UNKNOWN');
    assert.notEqual((await forged.next('connected')).session, victimId);
    forged.kill();
    await assertVictimUntouched('after the WebSocket attempts');
  });

  it('refuses long-polls with the public id, and a poll of an existing transport without its key', async () => {
    const bare = await fetch(`${server.url}/hub/poll?t=attackerpollingtransport&session=${victimId}`);
    assert.equal(bare.status, 400);
    // A legitimate polling transport; someone who learned its `t` but not its key gets 403.
    const t = 'legitimatepollingtransport';
    const first = await fetch(`${server.url}/hub/poll?t=${t}`);
    const hello = JSON.parse((await first.text()).split('\n')[0]!) as { session: string; key: string };
    assert.equal((await fetch(`${server.url}/hub/poll?t=${t}`)).status, 403);
    assert.equal((await fetch(`${server.url}/hub/poll?t=${t}&session=${hello.session}`)).status, 400);
    assert.equal((await fetch(`${server.url}/hub/poll?t=${t}&session=${victim.key}`)).status, 403);
    await post(server.url, hello.key, [{ type: 'ping' }]);
    const own = await fetch(`${server.url}/hub/poll?t=${t}&session=${hello.key}`);
    assert.equal(own.status, 200);
    assert.match(await own.text(), /"pong"/);
    await assertVictimUntouched('after the polling attempts');
  });

  it('resumes with the key, which only the client got', async () => {
    victim.kill();
    const back = await wsClient(server.url, `?session=${victim.key}`);
    const hello = await back.next('connected');
    assert.deepEqual([hello.session, hello.resumed], [victimId, true]);
    back.kill();
  });
});
