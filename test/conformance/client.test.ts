/**
 * Conduit's client (`connect`, the code `conduit connect --echo` runs) under Autobahn|Testsuite's
 * fuzzingserver cases (sections 1-7 and 9): a raw TCP server that answers the upgrade
 * itself and sends unmasked frames of its own making runs one case per connection and judges it as
 * Autobahn does, plus a few stricter rules (support/case-run.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { casesIn } from './cases/index.js';
import { describeResult } from './support/case-run.js';
import { FuzzingServer } from './support/runner.js';
import { caseOptions, SECTIONS, TEST_TIMING } from './support/suite.js';
import { type ClientTarget, cliEchoClient, conduitEchoClient } from './support/targets.js';

let server: FuzzingServer;
/**
 * The CLI is a process of its own: its fail-fast reaction (6.4.x) to a frame can take longer than
 * TEST_TIMING's 25 ms pause when the machine is busy, so its server waits longer between the parts
 * (Autobahn itself waits a second).
 */
let cliServer: FuzzingServer;
before(async () => {
  server = new FuzzingServer(TEST_TIMING);
  cliServer = new FuzzingServer({ ...TEST_TIMING, pause: 250 });
  await server.listen();
  await cliServer.listen();
});
after(async () => {
  await server.close();
  await cliServer.close();
});

async function runCase(client: ClientTarget, id: string, on: FuzzingServer = server) {
  const [c] = casesIn([id]).filter((x) => x.id === id);
  assert.ok(c !== undefined, `no case ${id}`);
  const { url, result } = on.expect(c, client.name);
  const outcome = await client.run(url);
  if (outcome.code === null) on.abandon(url, `the client did not connect: ${outcome.error}`);
  return { result: await result, outcome };
}

describe('Autobahn fuzzingserver cases against the Conduit client in echo mode', () => {
  for (const section of SECTIONS) {
    describe(`${section.id} ${section.title}`, { concurrency: section.concurrency }, () => {
      for (const c of casesIn([section.id])) {
        it(`${c.id} ${c.description}`, caseOptions('client', c.id), async () => {
          const { result, outcome } = await runCase(conduitEchoClient, c.id);
          assert.ok(result.passed, describeResult(result));
          assert.equal(outcome.error, null, `the client reported: ${outcome.error}`);
        });
      }
    });
  }
});

/** One or more cases from every section, through the real CLI process. */
const CLI_CASES = [
  '1.1.1',
  '1.2.8',
  '2.6',
  '3.2',
  '4.2.5',
  '5.19',
  '6.2.3',
  '6.4.2',
  '6.21.1',
  '7.1.6',
  '7.5.1',
  '7.7.13',
  '7.9.9',
  '9.5.1',
];

describe('Autobahn fuzzingserver cases against `conduit connect --echo` (a sample from every section)', {
  concurrency: 4,
}, () => {
  for (const id of CLI_CASES) {
    it(`${id} through the CLI`, caseOptions('client', id), async () => {
      const { result, outcome } = await runCase(cliEchoClient, id, cliServer);
      assert.ok(result.passed, describeResult(result));
      assert.notEqual(outcome.code, null, `the CLI did not report a close code: ${outcome.error}`);
    });
  }
});
