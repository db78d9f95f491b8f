/**
 * permessage-deflate (RFC 7692) on Conduit's client, Autobahn fuzzingserver style: a raw TCP server
 * answers the client's offer with each response of sections 12, 13, x.12 and x.13 (cases/deflate.ts),
 * legal ones (the client must go on and echo, compressed) and illegal ones (the client must fail the
 * connection). Three client configurations: the default offer (dedicated mode, context takeover), shared
 * mode (client_no_context_takeover offered), and offered windows (server_max_window_bits=10;
 * client_max_window_bits=12), all at threshold 0 so every echo is compressed; then a sample through
 * `conduit connect --echo`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { casesIn } from './cases/index.js';
import { type ConformanceCase, describeResult } from './support/case-run.js';
import { FuzzingServer } from './support/runner.js';
import { caseOptions, DEFLATE_SECTIONS, TEST_TIMING } from './support/suite.js';
import { type ClientTarget, cliClient, conduitClient } from './support/targets.js';

const forClients = (c: ConformanceCase) => c.side !== 'server';

let server: FuzzingServer;
before(async () => {
  server = new FuzzingServer(TEST_TIMING);
  await server.listen();
});
after(async () => {
  await server.close();
});

async function runCase(client: ClientTarget, c: ConformanceCase) {
  const { url, result } = server.expect(c, client.name, { compressThreshold: client.compressThreshold });
  const outcome = await client.run(url);
  if (outcome.code === null) server.abandon(url, `the client did not connect: ${outcome.error}`);
  return await result;
}

const CLIENTS: ReadonlyArray<[ClientTarget, readonly string[]]> = [
  [conduitClient('conduit-deflate', { perMessageDeflate: {} }), ['12', '13', 'x.12', 'x.13']],
  [conduitClient('conduit-shared', { perMessageDeflate: { mode: 'shared' } }), ['13', 'x.12']],
  [
    conduitClient('conduit-windows', {
      perMessageDeflate: { serverMaxWindowBits: 10, clientMaxWindowBits: 12 },
    }),
    ['13', 'x.13'],
  ],
];

for (const [client, sections] of CLIENTS) {
  describe(`permessage-deflate fuzzingserver cases against the Conduit client (${client.name})`, () => {
    for (const section of DEFLATE_SECTIONS.filter((s) => sections.includes(s.id))) {
      describe(`${section.id} ${section.title}`, { concurrency: section.concurrency }, () => {
        for (const c of casesIn([section.id]).filter(forClients)) {
          it(`${c.id} ${c.description}`, caseOptions('client', c.id, client.name), async () => {
            const result = await runCase(client, c);
            assert.ok(result.passed, describeResult(result));
          });
        }
      });
    }
  });
}

/** A sample through the CLI: its default offer (dedicated, threshold 1024) and `--deflate shared`. */
const CLI_CASES = [
  '12.2.4',
  '12.5.10',
  '13.3.3',
  '13.10.6',
  '13.16.1',
  'x.12.1',
  'x.12.13',
  'x.13.20',
  'x.13.29',
];

describe('permessage-deflate fuzzingserver cases against `conduit connect --echo` (a sample)', {
  concurrency: 4,
}, () => {
  for (const [client, args] of [
    [cliClient('conduit-cli', []), []],
    [cliClient('conduit-cli-shared', ['--deflate', 'shared']), ['--deflate', 'shared']],
  ] as const) {
    for (const id of CLI_CASES) {
      it(
        `${id} through the CLI ${args.join(' ')}`.trim(),
        caseOptions('client', id, client.name),
        async () => {
          const [c] = casesIn([id]).filter((x) => x.id === id);
          assert.ok(c !== undefined, `no case ${id}`);
          const result = await runCase(client, c);
          assert.ok(result.passed, describeResult(result));
        },
      );
    }
  }
});
