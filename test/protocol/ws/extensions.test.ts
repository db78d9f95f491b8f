/**
 * The Sec-WebSocket-Extensions grammar of RFC 6455 section 9.1:
 *   extension-list = 1#extension
 *   extension = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]   ; quoted values must be tokens once unescaped
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type Extension,
  ExtensionSyntaxError,
  formatExtensions,
  parseExtensions,
} from '../../../src/protocol/ws/extensions.js';

type Param = [string, string | true];
interface Model {
  name: string;
  paramList: Param[];
}

const token = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,10}$/) },
  {
    weight: 1,
    // Names that collide with Object.prototype members must still be ordinary parameters.
    arbitrary: fc.constantFrom(
      'permessage-deflate',
      'client_max_window_bits',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'valueOf',
    ),
  },
);

const param: fc.Arbitrary<Param> = fc.tuple(token, fc.oneof(fc.constant<true>(true), token));
const model: fc.Arbitrary<Model> = fc.record(
  { name: token, paramList: fc.array(param, { maxLength: 4 }) },
  { noNullPrototype: true },
);

const ows = fc.constantFrom('', '', ' ', '  ', '\t', ' \t ');

/** A quoted-string whose unescaped value is `value`, with random characters backslash-escaped. */
function quoted(value: string, escapes: readonly boolean[]): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) out += (escapes[i % escapes.length] ? '\\' : '') + value[i];
  return `${out}"`;
}

/** Serialize models as a peer might: optional whitespace everywhere, quoted values, empty list elements. */
const header = fc
  .tuple(
    fc.array(model, { minLength: 1, maxLength: 4 }),
    fc.array(ows, { minLength: 8, maxLength: 8 }),
    fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
    fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
    fc.boolean(),
  )
  .map(([models, spaces, quoting, escapes, emptyElements]) => {
    let n = 0;
    const sp = (): string => spaces[n++ % spaces.length]!;
    const parts = models.map((m) => {
      let text = m.name;
      for (const [key, value] of m.paramList) {
        text += `${sp()};${sp()}${key}`;
        if (value !== true) {
          text += `${sp()}=${sp()}${quoting[n++ % quoting.length] ? quoted(value, escapes) : value}`;
        }
      }
      return sp() + text + sp();
    });
    const text = parts.join(emptyElements ? ', ,' : ',');
    return { models, text: emptyElements ? `,${text},` : text };
  });

function expectParsed(parsed: Extension[], models: readonly Model[]): void {
  assert.deepEqual(
    parsed.map((e) => ({ name: e.name, paramList: e.paramList.map(([k, v]) => [k, v]) })),
    models,
  );
  parsed.forEach((e, i) => {
    // params: the value of each parameter's first appearance, as own properties.
    const firsts = new Map<string, string | true>();
    for (const [k, v] of models[i]!.paramList) if (!firsts.has(k)) firsts.set(k, v);
    assert.deepEqual(Object.keys(e.params).sort(), [...firsts.keys()].sort());
    for (const [k, v] of firsts) {
      assert.ok(Object.hasOwn(e.params, k), `own parameter ${k}`);
      assert.equal(e.params[k], v, `parameter ${k}`);
    }
  });
}

describe('extensions (RFC 6455 section 9.1)', () => {
  it('parses generated headers back into their extensions, with whitespace, quoting and empty elements', () => {
    fc.assert(
      fc.property(header, ({ models, text }) => {
        expectParsed(parseExtensions(text), models);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips through formatExtensions and parseExtensions', () => {
    fc.assert(
      fc.property(fc.array(model, { minLength: 1, maxLength: 4 }), (models) => {
        const text = formatExtensions(models);
        const parsed = parseExtensions(text);
        expectParsed(parsed, models);
        assert.equal(formatExtensions(parsed), text);
      }),
      { numRuns: 200 },
    );
  });

  it('parses the permessage-deflate offers of RFC 7692', () => {
    const parsed = parseExtensions(
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits',
    );
    assert.deepEqual(
      parsed.map((e) => [e.name, e.paramList]),
      [
        [
          'permessage-deflate',
          [
            ['client_max_window_bits', true],
            ['server_max_window_bits', '10'],
          ],
        ],
        ['permessage-deflate', [['client_max_window_bits', true]]],
      ],
    );
  });

  it('unescapes quoted-string values ("10", "1\\0")', () => {
    const [ext] = parseExtensions('x; a="10"; b="1\\0"; c=\t"tok"');
    assert.deepEqual(ext!.paramList, [
      ['a', '10'],
      ['b', '10'],
      ['c', 'tok'],
    ]);
  });

  it('keeps duplicate parameters in paramList and the first value in params', () => {
    const [ext] = parseExtensions('x; a=1; a=2; b');
    assert.deepEqual(ext!.paramList, [
      ['a', '1'],
      ['a', '2'],
      ['b', true],
    ]);
    assert.equal(ext!.params.a, '1');
    assert.equal(ext!.params.b, true);
  });

  it('treats parameters named like Object.prototype members as ordinary parameters', () => {
    const [ext] = parseExtensions('x; constructor=1; __proto__=2; toString');
    assert.equal(ext!.params.constructor, '1');
    const proto = '__proto__';
    assert.equal(ext!.params[proto], '2');
    assert.equal(Object.getPrototypeOf(ext!.params), null);
    assert.equal(ext!.params.toString, true);
    assert.equal(Object.hasOwn(ext!.params, 'valueOf'), false);
    assert.equal(ext!.params.valueOf, undefined);
  });

  const malformed = [
    '',
    ' ',
    ',',
    ' , , ',
    ';',
    'foo;',
    'foo; ',
    'foo;;a',
    'foo; =1',
    'foo; a=',
    'foo; a= ;b',
    'foo; a=""',
    'foo; a="b c"',
    'foo; a="b,c"',
    'foo; a="unterminated',
    'foo; a="b\\"',
    'foo; a="b"c',
    'foo; a="é"',
    'foo; a=b=c',
    'foo; a=b c',
    'foo; a b',
    'foo bar',
    '=foo',
    '"foo"',
    'fo@o',
    'foo; a=@',
    'foo; a=(b)',
    'foo; [a]',
    'foo, ;a',
    'foo,,bar;',
    'foo\r\n; a',
    'foo;\u00e9',
  ];
  for (const text of malformed) {
    it(`refuses the malformed header ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseExtensions(text), ExtensionSyntaxError);
    });
  }
});
