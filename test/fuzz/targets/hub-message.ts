/**
 * The hub's client-message parser (`parseClientMessage`, src/protocol/hub/messages.ts). Invariants:
 * - it returns a well-formed ClientMessage or throws a HubProtocolError, nothing else;
 * - the error code is one the parser documents, TOO_LARGE exactly when the UTF-8 text is over the
 *   limit, and an error's id, when given, is the message's own non-negative integer id;
 * - a message it returns is within the limit, of the documented shape (channel name, since, cmid), and
 *   reads back the same from its own JSON;
 * - ping, pong and bye parse whatever else the object holds.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import {
  type ClientMessage,
  HubProtocolError,
  isChannelName,
  parseClientMessage,
} from '../../../src/protocol/hub/messages.js';
import type { Rng } from '../../support/random.js';
import type { FuzzTarget } from '../engine/target.js';
import { utf8 } from './util.js';

const LIMITS = [64 * 1024, 96];
const CODES = new Set(['BAD_MESSAGE', 'UNKNOWN_TYPE', 'TOO_LARGE', 'BAD_CHANNEL']);
const TYPES = ['subscribe', 'unsubscribe', 'publish', 'presence', 'ping', 'pong', 'bye'];

function checkShape(m: ClientMessage): void {
  assert.ok(TYPES.includes(m.type), `type ${m.type}`);
  if (m.type === 'ping' || m.type === 'pong' || m.type === 'bye') {
    assert.deepEqual(Object.keys(m), ['type']);
    return;
  }
  assert.ok(Number.isSafeInteger(m.id) && m.id >= 0, `id ${m.id}`);
  assert.ok(isChannelName(m.channel) && /^[A-Za-z0-9._:/-]{1,128}$/.test(m.channel), `channel ${m.channel}`);
  if (m.type === 'subscribe') {
    assert.equal(typeof m.presence, 'boolean');
    if (m.since !== null) {
      assert.deepEqual(Object.keys(m.since).sort(), ['epoch', 'offset']);
      assert.equal(typeof m.since.epoch, 'string');
      assert.ok(m.since.epoch.length <= 64);
      assert.ok(Number.isSafeInteger(m.since.offset) && m.since.offset >= 0);
    }
  } else if (m.type === 'publish') {
    assert.equal(typeof m.data, 'string');
    assert.ok(typeof m.cmid === 'string' && m.cmid.length >= 1 && m.cmid.length <= 64);
  }
}

function check(text: string, maxBytes: number): void {
  let message: ClientMessage | undefined;
  let error: unknown = null;
  try {
    message = parseClientMessage(text, maxBytes);
  } catch (e) {
    error = e;
  }
  const tooLarge = Buffer.byteLength(text, 'utf8') > maxBytes;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const object =
    typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : null;
  if (error !== null) {
    assert.ok(error instanceof HubProtocolError, `threw ${inspect(error)}`);
    assert.ok(CODES.has(error.code), `code ${error.code}`);
    assert.equal(error.code === 'TOO_LARGE', tooLarge, `TOO_LARGE for ${Buffer.byteLength(text)} bytes`);
    if (error.id !== undefined) {
      assert.ok(object !== null, 'an id from a text that is not a JSON object');
      assert.equal(error.id, object.id);
      assert.ok(Number.isSafeInteger(error.id) && error.id >= 0);
    }
    if (!tooLarge && object !== null && ['ping', 'pong', 'bye'].includes(object.type as string)) {
      assert.fail(`${object.type} refused: ${error.message}`);
    }
    return;
  }
  assert.ok(message !== undefined);
  assert.ok(!tooLarge, 'accepted a message over the limit');
  assert.ok(object !== null, 'accepted a text that is not a JSON object');
  assert.equal(message.type, object.type);
  checkShape(message);
  // Compared as JSON: an offset or id of -0 reads back as 0, which is the same number to the hub.
  const again = parseClientMessage(JSON.stringify(message), Number.MAX_SAFE_INTEGER);
  assert.equal(JSON.stringify(again), JSON.stringify(message), 'reads back differently from its JSON');
}

const FIELD_VALUES: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 53,
  2 ** 53 - 1,
  '',
  '1',
  'a',
  'x'.repeat(64),
  'x'.repeat(65),
  'c'.repeat(128),
  'c'.repeat(129),
  'chat.room-1/a:b_c',
  'bad channel',
  'é',
  '\ud800',
  [],
  {},
  { epoch: 'e', offset: 0 },
  { epoch: 'e'.repeat(65), offset: 1 },
  { epoch: 'e', offset: -1 },
  { epoch: 1, offset: 1 },
];
const FIELDS = ['type', 'id', 'channel', 'since', 'presence', 'data', 'cmid', '__proto__', 'constructor'];

/** Structure-aware: change, add or remove one field of the JSON object. */
function mutateJson(input: Buffer, rng: Rng): Buffer {
  let value: unknown;
  try {
    value = JSON.parse(input.toString('utf8'));
  } catch {
    return input;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return input;
  const m = value as Record<string, unknown>;
  const field = FIELDS[rng.below(FIELDS.length)]!;
  const op = rng.below(4);
  if (op === 0) delete m[field];
  else if (op === 1 && field === 'type') m.type = TYPES[rng.below(TYPES.length)];
  else
    Object.defineProperty(m, field, {
      value: FIELD_VALUES[rng.below(FIELD_VALUES.length)],
      enumerable: true,
    });
  return utf8(JSON.stringify(m));
}

export const hubMessageTarget: FuzzTarget = {
  name: 'hub-message',
  description: 'parseClientMessage: a well-formed message that round-trips, or a HubProtocolError',
  maxLength: 1024,
  dictionary: [
    '{"type":',
    '"type"',
    '"subscribe"',
    '"unsubscribe"',
    '"publish"',
    '"presence"',
    '"ping"',
    '"bye"',
    '"id":',
    '"channel":',
    '"since":',
    '"epoch":',
    '"offset":',
    '"data":',
    '"cmid":',
    '"__proto__"',
    'true',
    'null',
    '1e999',
    '-0',
    '9007199254740993',
    '\\u0000',
    '\\ud800',
  ],
  seeds() {
    return {
      subscribe: utf8(
        '{"type":"subscribe","id":1,"channel":"chat.room1","since":{"epoch":"k3j9x0","offset":41},"presence":true}',
      ),
      'subscribe-latest': utf8('{"type":"subscribe","id":2,"channel":"news"}'),
      unsubscribe: utf8('{"type":"unsubscribe","id":4,"channel":"chat.room1"}'),
      publish: utf8('{"type":"publish","id":3,"channel":"chat.room1","data":"hello","cmid":"c7a1-000017"}'),
      presence: utf8('{"type":"presence","id":5,"channel":"a/b:c_d-e.f"}'),
      ping: utf8('{"type":"ping"}'),
      bye: utf8('{"type":"bye","id":"ignored"}'),
      unknown: utf8('{"type":"shout","id":6,"channel":"x"}'),
      'bad-channel': utf8('{"type":"publish","id":7,"channel":"no spaces","data":"","cmid":"1"}'),
      'not-object': utf8('[{"type":"ping"}]'),
      unicode: utf8('{"type":"publish","id":8,"channel":"c","data":"é€😀\\ud83d","cmid":"ü"}'),
    };
  },
  run(input) {
    const text = input.toString('utf8');
    for (const limit of LIMITS) check(text, limit);
  },
  mutate: mutateJson,
};
