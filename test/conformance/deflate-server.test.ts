/**
 * permessage-deflate (RFC 7692) on Conduit's WebSocketServer, Autobahn fuzzingclient style: sections 12
 * and 13 and the probes x.12, x.13 (cases/deflate.ts) against an echo server at /echo in each memory
 * mode ('shared': no context takeover either way; 'dedicated': context takeover), at threshold 0 so every
 * echo is compressed; then a sample against `conduit serve`'s /echo with its default deflate settings.
 * The peer compresses and inflates with node:zlib under the agreed parameters (support/deflate.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PerMessageDeflateOptions } from '../../src/index.js';
import { casesIn } from './cases/index.js';
import { type ConformanceCase, describeResult } from './support/case-run.js';
import { runCaseAgainstServer } from './support/runner.js';
import { caseOptions, DEFLATE_SECTIONS, TEST_TIMING } from './support/suite.js';
import { type ServerTarget, startConduitEchoServer, startConduitServe } from './support/targets.js';

const forServers = (c: ConformanceCase) => c.side !== 'client';

const MODES: ReadonlyArray<[string, PerMessageDeflateOptions]> = [
  ['conduit-shared', { mode: 'shared' }],
  ['conduit-dedicated', { mode: 'dedicated' }],
];

for (const [name, options] of MODES) {
  describe(`permessage-deflate fuzzingclient cases against WebSocketServer at /echo, ${options.mode} mode`, () => {
    let target: ServerTarget;
    before(async () => {
      target = await startConduitEchoServer(options, name);
    });
    after(async () => {
      await target.close();
    });

    for (const section of DEFLATE_SECTIONS) {
      describe(`${section.id} ${section.title}`, { concurrency: section.concurrency }, () => {
        for (const c of casesIn([section.id]).filter(forServers)) {
          it(`${c.id} ${c.description}`, caseOptions('server', c.id, name), async () => {
            const result = await runCaseAgainstServer(c, target.url, TEST_TIMING, {
              compressThreshold: target.compressThreshold,
            });
            assert.ok(result.passed, describeResult(result));
          });
        }
      });
    }
  });
}

/** A sample of every deflate section against `conduit serve` (shared mode, default threshold). */
const SERVE_CASES = [
  '12.1.4',
  '12.2.10',
  '12.5.17',
  '13.1.3',
  '13.6.6',
  '13.19.5',
  'x.12.1',
  'x.12.5',
  'x.12.13',
];
const SERVE_PROBES = ['x.12.17', 'x.12.22', 'x.13.1', 'x.13.9', 'x.13.10'];

describe("permessage-deflate fuzzingclient cases against `conduit serve`'s /echo (a sample)", () => {
  let target: ServerTarget;
  before(async () => {
    target = await startConduitServe();
  });
  after(async () => {
    await target.close();
  });

  it('passes a sample of sections 12, 13, x.12 and x.13', async () => {
    const cases = casesIn([...SERVE_CASES, ...SERVE_PROBES]).filter(forServers);
    assert.equal(cases.length, SERVE_CASES.length + SERVE_PROBES.length);
    const results = await Promise.all(cases.map((c) => runCaseAgainstServer(c, target.url, TEST_TIMING)));
    const failures = results
      .filter((r) => !r.passed && caseOptions('server', r.id, 'conduit-serve').todo === undefined)
      .map(describeResult);
    assert.deepEqual(failures, [], failures.join('\n'));
  });
});
