/**
 * Conduit's WebSocketServer under Autobahn|Testsuite's fuzzingclient cases (sections 1-7 and 9): a raw
 * TCP client that builds its own frames (support/wire.ts, not Conduit's code) drives an echo server at
 * /echo and judges each case as Autobahn does, plus a few stricter rules (support/case-run.ts). A
 * failing assertion prints what was sent, received and how the close went.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { casesIn } from './cases/index.js';
import { describeResult } from './support/case-run.js';
import { runCaseAgainstServer } from './support/runner.js';
import { caseOptions, SECTIONS, TEST_TIMING } from './support/suite.js';
import { type ServerTarget, startConduitEchoServer, startConduitServe } from './support/targets.js';

describe('Autobahn fuzzingclient cases against WebSocketServer at /echo', () => {
  let target: ServerTarget;
  before(async () => {
    target = await startConduitEchoServer();
  });
  after(async () => {
    await target.close();
  });

  for (const section of SECTIONS) {
    describe(`${section.id} ${section.title}`, { concurrency: section.concurrency }, () => {
      for (const c of casesIn([section.id])) {
        it(`${c.id} ${c.description}`, caseOptions('server', c.id), async () => {
          const result = await runCaseAgainstServer(c, target.url, TEST_TIMING);
          assert.ok(result.passed, describeResult(result));
        });
      }
    });
  }
});

describe("Autobahn fuzzingclient cases 1-7 against `conduit serve`'s /echo (attached to its HTTP server)", () => {
  let target: ServerTarget;
  before(async () => {
    target = await startConduitServe();
  });
  after(async () => {
    await target.close();
  });

  it('passes every case of sections 1 to 7', async () => {
    const cases = casesIn(['1', '2', '3', '4', '5', '6', '7']);
    const failures: string[] = [];
    for (let i = 0; i < cases.length; i += 16) {
      const batch = cases.slice(i, i + 16);
      const results = await Promise.all(batch.map((c) => runCaseAgainstServer(c, target.url, TEST_TIMING)));
      for (const r of results) {
        if (!r.passed && caseOptions('server', r.id).todo === undefined) failures.push(describeResult(r));
      }
    }
    assert.deepEqual(failures, [], failures.join('\n'));
  });
});
