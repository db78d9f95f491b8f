/**
 * The conformance harness judged against endpoints with known faults: each verdict the suite relies on
 * (NON-STRICT for late UTF-8 checks, FAILED for missing checks, UNCLEAN for a server that keeps TCP
 * open, the strict rules) must actually come out when the fault is there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { casesIn } from './cases/index.js';
import type { CaseResult, ConformanceCase } from './support/case-run.js';
import { type Faults, runFaultyClient, startFaultyServer } from './support/faulty.js';
import type { Timing } from './support/peer.js';
import { FuzzingServer, runCaseAgainstServer } from './support/runner.js';

const FAST: Timing = { second: 300, pause: 20 };

function only(id: string): ConformanceCase {
  const c = casesIn([id]).find((x) => x.id === id);
  assert.ok(c !== undefined, `no case ${id}`);
  return c;
}

async function againstServer(faults: Faults, id: string): Promise<CaseResult> {
  const server = await startFaultyServer(faults);
  try {
    return await runCaseAgainstServer(only(id), server.url, FAST);
  } finally {
    await server.close();
  }
}

describe('the harness against servers with known faults', { concurrency: true }, () => {
  it('passes a server that is merely correct on ordinary cases', async () => {
    for (const id of ['1.1.2', '2.3', '3.2', '5.6', '6.3.1', '7.9.4']) {
      const r = await againstServer({}, id);
      assert.ok(r.passed, `${id}: ${r.behavior}/${r.behaviorClose} ${r.result}`);
    }
  });

  it('reports NON-STRICT when invalid UTF-8 is only caught at the end of the message (6.4.x)', async () => {
    for (const id of ['6.4.1', '6.4.2', '6.4.3', '6.4.4']) {
      const r = await againstServer({}, id);
      assert.equal(r.behavior, 'NON-STRICT', id);
      assert.equal(r.passed, false);
    }
  });

  it('reports FAILED when a server echoes invalid UTF-8', async () => {
    const r = await againstServer({ skipUtf8: true }, '6.3.1');
    assert.equal(r.passed, false);
    assert.match(r.violation ?? '', /not valid UTF-8/);
  });

  it('reports FAILED when a server ignores reserved bits and answers the ping after the error', async () => {
    const r = await againstServer({ ignoreRsv: true }, '3.2');
    assert.equal(r.behavior, 'FAILED');
  });

  it('reports UNCLEAN when the server does not close TCP after the closing handshake', async () => {
    const r = await againstServer({ keepTcpOpen: true }, '1.1.1');
    assert.equal(r.behavior, 'OK');
    assert.equal(r.behaviorClose, 'UNCLEAN');
    assert.equal(r.droppedByMe, true);
  });

  it('fails, under the strict rules only, a server that resets TCP after the closing handshake', async () => {
    const r = await againstServer({ resetAfterClose: true }, '1.1.1');
    assert.equal(r.behavior, 'OK');
    assert.equal(r.behaviorClose, 'OK');
    assert.match(r.strictFailures.join(), /without a FIN/);
  });

  it('reports FAILED when a server echoes an invalid close code (7.9.x)', async () => {
    const r = await againstServer({ echoAnyCloseCode: true }, '7.9.1');
    assert.equal(r.passed, false);
    assert.match(r.violation ?? '', /invalid close code 0/);
  });

  it('fails, under the strict rules only, a server that drops TCP instead of sending a close frame', async () => {
    const r = await againstServer({ failSilently: true }, '5.18');
    assert.equal(r.behavior, 'OK');
    assert.equal(r.behaviorClose, 'OK');
    assert.equal(r.passed, false);
    assert.match(r.strictFailures.join(), /no close frame/);
  });
});

describe('the permessage-deflate judge against servers with known faults', { concurrency: true }, () => {
  it('passes a server that compresses as agreed', async () => {
    for (const id of ['12.2.4', '12.5.6', '13.3.3', '13.8.4', '13.10.5', 'x.13.1']) {
      const r = await againstServer({ deflate: true }, id);
      assert.ok(r.passed, `${id}: ${r.behavior}/${r.behaviorClose} ${r.result} ${r.violation ?? ''}`);
    }
  });

  it('fails a server that compresses with a larger window than agreed (15 bits for 9 and 11)', async () => {
    for (const id of ['13.8.4', '13.10.5']) {
      const r = await againstServer({ deflate: true, deflateWindowBits: 15 }, id);
      assert.equal(r.passed, false, id);
      assert.match(r.violation ?? '', /beyond the agreed (9|11)-bit window/);
    }
  });

  it('fails a server that keeps its context although server_no_context_takeover was agreed', async () => {
    const r = await againstServer({ deflate: true, deflateKeepContext: true }, '13.3.3');
    assert.equal(r.passed, false);
    assert.match(r.violation ?? '', /no context takeover was agreed/);
  });

  it('fails a server that sets RSV1 on continuation frames', async () => {
    const r = await againstServer({ deflate: true, deflateRsv1OnContinuation: true }, '12.2.4');
    assert.equal(r.passed, false);
    assert.match(r.violation ?? '', /RSV1 set on a continuation frame/);
  });

  it('fails a server that leaves out an offered server_no_context_takeover', async () => {
    const r = await againstServer({ deflate: true, deflateDropServerNoContext: true }, '13.3.1');
    assert.equal(r.behavior, 'FAILED');
    assert.match(r.result, /server_no_context_takeover was offered and is missing/);
  });

  it('fails a server that accepts an offer it must decline', async () => {
    const r = await againstServer({ deflate: true, deflateAcceptAnything: true }, 'x.13.1');
    assert.equal(r.behavior, 'FAILED');
    assert.match(r.result, /unknown parameter foo/);
  });
});

describe('the harness against clients with known faults', { concurrency: true }, () => {
  let server: FuzzingServer;
  before(async () => {
    server = new FuzzingServer(FAST);
    await server.listen();
  });
  after(async () => {
    await server.close();
  });

  async function againstClient(faults: Faults, id: string): Promise<CaseResult> {
    const { url, result } = server.expect(only(id), 'faulty');
    await runFaultyClient(url, faults);
    return result;
  }

  it('passes a client that is merely correct', async () => {
    const r = await againstClient({}, '5.6');
    assert.ok(r.passed, `${r.behavior}/${r.behaviorClose} ${r.strictFailures.join()}`);
  });

  it('reports FAILED when a client sends unmasked frames', async () => {
    const r = await againstClient({ unmasked: true }, '1.1.2');
    assert.equal(r.passed, false);
    assert.match(r.violation ?? '', /unmasked/);
  });

  it('fails a client that goes on after a permessage-deflate response it must refuse', async () => {
    const r = await againstClient({ deflateOffer: 'permessage-deflate; client_max_window_bits' }, 'x.13.20');
    assert.equal(r.behavior, 'FAILED');
    assert.match(r.result, /used the connection although the response is not acceptable/);
  });

  it('fails, under the strict rules only, a client that closes TCP before the server', async () => {
    const r = await againstClient({ closeTcpFirst: true }, '1.1.2');
    assert.equal(r.behavior, 'OK');
    assert.equal(r.behaviorClose, 'OK');
    assert.match(r.strictFailures.join(), /client closed TCP before the server/);
  });
});
