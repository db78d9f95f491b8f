/**
 * The POST body reader (`readTextBody`, src/server/http-body.ts) on a real `IncomingMessage` fed in
 * memory, and the long-polling payload it carries to the hub (src/server/hub-http.ts: one client
 * message per non-blank line, each through `parseClientMessage`). The first input byte picks the limit
 * and how the request ends (complete, reset with an error, aborted); the rest is the body. Invariants:
 * - the promise settles, once, whichever way the request ends;
 * - over the limit: null and one 413 answer (with `connection: close`); a complete body within it: its
 *   UTF-8 text (a leading BOM may be dropped) and no answer, or null and one 400 answer when it is not
 *   UTF-8; a request that fails within the limit: null and no answer;
 * - the same under any cutting of the body;
 * - every line of an accepted body parses to a message or a HubProtocolError.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { IncomingMessage, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { inspect } from 'node:util';
import { HubProtocolError, parseClientMessage } from '../../../src/protocol/hub/messages.js';
import { readTextBody } from '../../../src/server/http-body.js';
import type { FuzzTarget } from '../engine/target.js';
import { cuts, pieces, rngFor, utf8 } from './util.js';

const LIMITS = [1024 * 1024, 64, 7, 0];
const ENDINGS = ['complete', 'error', 'abort', 'complete'] as const;
const HANG_MS = 5000;

interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
}

interface Outcome {
  text: string | null;
  answers: Answer[];
  settled: number;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function read(
  chunks: readonly Buffer[],
  limit: number,
  ending: (typeof ENDINGS)[number],
): Promise<Outcome> {
  const req = new IncomingMessage(new Socket());
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.method = 'POST';
  const res = new ServerResponse(req);
  const answers: Answer[] = [];
  const writeHead = res.writeHead.bind(res) as (
    status: number,
    headers: OutgoingHttpHeaders,
  ) => ServerResponse;
  Object.assign(res, {
    writeHead(status: number, headers: OutgoingHttpHeaders) {
      answers.push({ status, headers });
      return writeHead(status, headers);
    },
  });
  let settled = 0;
  let text: string | null = null;
  const done = readTextBody(req, res, limit).then((value) => {
    settled++;
    text = value;
  });
  for (const chunk of chunks) {
    req.push(chunk);
    if (chunk.length % 3 === 0) await tick();
  }
  await tick();
  if (ending === 'complete') {
    // As node's HTTP parser does at the end of a message.
    req.complete = true;
    req.push(null);
  } else if (ending === 'error') {
    req.destroy(new Error('ECONNRESET'));
  } else {
    req.destroy();
  }
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), HANG_MS);
  });
  const first = await Promise.race([done, hung]);
  clearTimeout(timer);
  assert.notEqual(first, 'hung', `readTextBody did not settle within ${HANG_MS} ms (${ending})`);
  await tick();
  await tick();
  return { text, answers, settled };
}

function checkLines(text: string): void {
  for (const line of text.split('\n').filter((l) => l.trim() !== '')) {
    try {
      parseClientMessage(line, 64 * 1024);
    } catch (error) {
      assert.ok(error instanceof HubProtocolError, `parseClientMessage threw ${inspect(error)}`);
    }
  }
}

export const postBodyTarget: FuzzTarget = {
  name: 'post-body',
  description:
    'readTextBody + NDJSON lines: settles once; 413/400/text/null as the body and ending say, under any cutting',
  maxLength: 2048,
  dictionary: [
    '\n',
    '\r\n',
    '{"type":"ping"}',
    '{"type":"publish","id":1,"channel":"c","data":"x","cmid":"m"}',
    Uint8Array.of(0xef, 0xbb, 0xbf),
    Uint8Array.of(0xc3),
    Uint8Array.of(0xe2, 0x82),
    Uint8Array.of(0xed, 0xa0, 0x80),
    Uint8Array.of(0xf4, 0x90, 0x80, 0x80),
    Uint8Array.of(0xff),
  ],
  seeds() {
    const lines = utf8(
      '{"type":"subscribe","id":1,"channel":"chat"}\n{"type":"publish","id":2,"channel":"chat","data":"hé","cmid":"a1"}\n\n{"type":"ping"}\n',
    );
    return {
      lines: Buffer.concat([Buffer.of(0), lines]),
      'lines-small-limit': Buffer.concat([Buffer.of(1 << 2), lines]),
      'reset-midway': Buffer.concat([Buffer.of(1), lines]),
      aborted: Buffer.concat([Buffer.of(2), lines]),
      bom: Buffer.concat([Buffer.of(0, 0xef, 0xbb, 0xbf), utf8('{"type":"bye"}\r\n')]),
      'not-utf8': Buffer.concat([
        Buffer.of(0),
        utf8('{"type":"publish","data":"'),
        Buffer.of(0xc3, 0x28),
        utf8('"}'),
      ]),
      empty: Buffer.of(3 << 2),
    };
  },
  async run(input) {
    const mode = input.length > 0 ? input[0]! : 0;
    const ending = ENDINGS[mode & 3]!;
    const limit = LIMITS[(mode >> 2) & 3]!;
    const body = input.subarray(1);
    const rng = rngFor(input);
    const whole = await read([Buffer.from(body)], limit, ending);
    const cut = await read(
      pieces(body, cuts(rng, body.length)).filter((p) => p.length > 0),
      limit,
      ending,
    );
    assert.deepEqual(cut, whole, 'a different outcome when the body is cut');
    assert.equal(whole.settled, 1);
    const over = body.length > limit;
    if (over) {
      assert.equal(whole.text, null);
      assert.equal(whole.answers.length, 1);
      assert.equal(whole.answers[0]!.status, 413);
      assert.equal(whole.answers[0]!.headers.connection, 'close');
      return;
    }
    if (ending !== 'complete') {
      assert.equal(whole.text, null);
      assert.deepEqual(whole.answers, []);
      return;
    }
    if (!isUtf8(body)) {
      assert.equal(whole.text, null);
      assert.deepEqual(
        whole.answers.map((a) => a.status),
        [400],
      );
      return;
    }
    assert.deepEqual(whole.answers, []);
    assert.ok(whole.text !== null);
    const decoded = body.toString('utf8');
    assert.ok(whole.text === decoded || `\ufeff${whole.text}` === decoded, 'the text is not the body');
    checkLines(whole.text);
  },
};
