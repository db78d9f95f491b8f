/**
 * Connections up to the open-file limit against `conduit serve` started under a low one (`prlimit
 * --nofile=128:128`; issue 14: "at the file-descriptor limit new clients are reset silently with
 * nothing logged"). The server holds connections up to its limit (the open-file limit less what it
 * had open at startup and FD_HEADROOM), closes the ones past it as they arrive, logs that once (with
 * a count every 10 s while it lasts), stays up, and keeps serving the connections it has; once some
 * leave, new clients are served again. Linux only (prlimit, /proc); about 2 s.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { delay, echoMs, type ServeProcess, startServe } from '../support/http-attack.js';

const OPEN_FILES = 128;
const hasPrlimit = process.platform === 'linux' && spawnSync('prlimit', ['--version']).status === 0;
const LIMIT_MESSAGE = /^connection limit reached/;

describe('attack: connections up to the open-file limit (prlimit --nofile=128)', {
  skip: hasPrlimit ? false : 'needs Linux and prlimit',
  timeout: 30_000,
}, () => {
  let server: ServeProcess;
  const sockets: Socket[] = [];

  before(async () => {
    server = await startServe([], OPEN_FILES);
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await server?.stop();
  });

  it('refuses connections past its limit as they come, logs it once, and serves the ones it has', async () => {
    // The log goes to stderr, the URL to stdout: under load the log line can come a little later.
    let listening = server.logLines().find((line) => line.msg === 'listening');
    for (let i = 0; i < 100 && listening === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      listening = server.logLines().find((line) => line.msg === 'listening');
    }
    const limit = listening?.maxConnections;
    assert.ok(typeof limit === 'number' && limit > 10 && limit < OPEN_FILES - 32, `limit ${limit}`);

    // A legitimate client, connected before the flood.
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/echo`);
    ws.on('error', () => undefined);
    await once(ws, 'open');
    const echoed = async (text: string) => {
      const reply = once(ws, 'message');
      ws.send(text);
      const [data] = (await Promise.race([reply, delay(2000).then(() => ['(no echo)'])])) as [unknown];
      return String(data);
    };
    assert.equal(await echoed('before'), 'before');

    // Fill the server up to its limit with connections that stay, then 30 past it.
    const open = (): Promise<{ socket: Socket; refused: Promise<boolean> }> =>
      new Promise((resolve) => {
        const socket = connect(server.port, '127.0.0.1');
        sockets.push(socket);
        socket.on('error', () => undefined);
        // Refused: closed by the server with no answer within 2 s; kept: still open then.
        const refused = Promise.race([
          new Promise<boolean>((r) => socket.once('close', () => r(true))),
          delay(2000).then(() => false),
        ]);
        socket.once('connect', () => resolve({ socket, refused }));
      });
    const kept = [];
    for (let i = 0; i < limit - 1; i++) kept.push(await open());
    await delay(200);
    const past = await Promise.all(Array.from({ length: 30 }, open));
    const refusedPast = await Promise.all(past.map((p) => p.refused));
    const refusedKept = await Promise.all(kept.map((p) => p.refused));
    assert.equal(refusedPast.filter(Boolean).length, 30, 'every connection past the limit is closed');
    assert.equal(refusedKept.filter(Boolean).length, 0, 'none of those within the limit is');

    // Logged once (the count of the rest comes at the end of the 10 s interval), and alive.
    await delay(300);
    const refusals = server.logLines().filter((line) => LIMIT_MESSAGE.test(String(line.msg)));
    assert.equal(refusals.length, 1, server.log());
    assert.equal(refusals[0]!.refused, 1);
    assert.equal(refusals[0]!.maxConnections, limit);
    assert.equal(refusals[0]!.openFileLimit, OPEN_FILES);
    assert.equal(server.child.exitCode, null, 'the server is alive');
    assert.equal(await echoed('during'), 'during', 'the connection it had is still served');

    // Room again: a new client is served.
    for (const { socket } of kept.splice(0, 5)) socket.destroy();
    await delay(100);
    const ms = await echoMs(server.url);
    assert.ok(ms < 1000, `a new client waited ${ms.toFixed(0)} ms`);
    ws.terminate();
  });
});
