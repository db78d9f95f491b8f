/**
 * The byte sequences of Autobahn cases 6.5.x to 6.23.x (autobahntestsuite/case/case6_x_x.py, after
 * Markus Kuhn's UTF-8-test.txt), in the same order, so case numbers match the real suite's report.
 * Each group becomes 6.<5 + index>.<1-based position>; `valid` says whether the text message must be
 * echoed (true) or fail the connection with 1007 (false).
 */

export interface Utf8Sequence {
  valid: boolean;
  bytes: Buffer;
}

export interface Utf8Group {
  title: string;
  sequences: Utf8Sequence[];
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ok = (bytes: Buffer | string): Utf8Sequence => ({
  valid: true,
  bytes: typeof bytes === 'string' ? hex(bytes) : bytes,
});
const bad = (bytes: Buffer | string): Utf8Sequence => ({
  valid: false,
  bytes: typeof bytes === 'string' ? hex(bytes) : bytes,
});
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const range = (from: number, toExclusive: number): number[] =>
  Array.from({ length: toExclusive - from }, (_, i) => from + i);

/** "κόσμε": code points end after bytes 2, 5, 7, 9 and 11. */
export const KOSME = hex('ceba e1bdb9 cf83 cebc ceb5');
const KOSME_BOUNDARIES = new Set([2, 5, 7, 9, 11]);

export function utf8Groups(): Utf8Group[] {
  const groups: Utf8Group[] = [];
  const group = (title: string, sequences: Utf8Sequence[]) => groups.push({ title, sequences });

  // 1 Some correct UTF-8 text
  group('Some valid UTF-8 sequences', [
    ok(Buffer.concat([ascii('hello'), hex('24'), ascii('world')])),
    ok(Buffer.concat([ascii('hello'), hex('c2a2'), ascii('world')])),
    ok(Buffer.concat([ascii('hello'), hex('e282ac'), ascii('world')])),
    ok(Buffer.concat([ascii('hello'), hex('f0a4ada2'), ascii('world')])),
    ok(KOSME),
  ]);

  // All prefixes of correct UTF-8 text: valid exactly when the prefix ends on a code point.
  group(
    'All prefixes of a valid UTF-8 string that contains multi-byte code points',
    range(1, KOSME.length + 1).map((i) => ({
      valid: KOSME_BOUNDARIES.has(i),
      bytes: KOSME.subarray(0, i),
    })),
  );

  // 2.1 First possible sequence of a certain length
  group('First possible sequence of a certain length', [ok('00'), ok('c280'), ok('e0a080'), ok('f0908080')]);
  group('First possible sequence length 5/6 (invalid codepoints)', [bad('f888808080'), bad('fc8480808080')]);

  // 2.2 Last possible sequence of a certain length
  group('Last possible sequence of a certain length', [ok('7f'), ok('dfbf'), ok('efbfbf'), ok('f48fbfbf')]);
  group('Last possible sequence length 4/5/6 (invalid codepoints)', [
    bad('f7bfbfbf'),
    bad('fbbfbfbfbf'),
    bad('fdbfbfbfbfbf'),
  ]);

  // 2.3 Other boundary conditions
  group('Other boundary conditions', [
    ok('ed9fbf'),
    ok('ee8080'),
    ok('efbfbd'),
    ok('f48fbfbf'),
    bad('f4908080'),
  ]);

  // 3.1 Unexpected continuation bytes (the last one: every byte 0x80..0xbe, as xrange(0x80, 0xbf))
  group('Unexpected continuation bytes', [
    bad('80'),
    bad('bf'),
    bad('80bf'),
    bad('80bf80'),
    bad('80bf80bf'),
    bad('80bf80bf80'),
    bad('80bf80bf80bf'),
    bad(Buffer.from(range(0x80, 0xbf))),
  ]);

  // 3.2 Lonely start characters, each followed by a space
  group(
    'Lonely start characters',
    [
      [0xc0, 0xdf],
      [0xe0, 0xef],
      [0xf0, 0xf7],
      [0xf8, 0xfb],
      [0xfc, 0xfd],
    ].map(([from, to]) => bad(Buffer.from(range(from!, to!).flatMap((b) => [b, 0x20])))),
  );

  // 3.3 Sequences with last continuation byte missing
  const truncated = [
    'c0',
    'e080',
    'f08080',
    'f8808080',
    'fc80808080',
    'df',
    'efbf',
    'f7bfbf',
    'fbbfbfbf',
    'fdbfbfbfbf',
  ];
  group('Sequences with last continuation byte missing', truncated.map(bad));

  // 3.4 Concatenation of incomplete sequences
  group('Concatenation of incomplete sequences', [bad(truncated.join(''))]);

  // 3.5 Impossible bytes
  group('Impossible bytes', [bad('fe'), bad('ff'), bad('fefeffff')]);

  // 4.1 Examples of an overlong ASCII character
  group('Examples of an overlong ASCII character', [
    bad('c0af'),
    bad('e080af'),
    bad('f08080af'),
    bad('f8808080af'),
    bad('fc80808080af'),
  ]);

  // 4.2 Maximum overlong sequences
  group('Maximum overlong sequences', [
    bad('c1bf'),
    bad('e09fbf'),
    bad('f08fbfbf'),
    bad('f887bfbfbf'),
    bad('fc83bfbfbfbf'),
  ]);

  // 4.3 Overlong representation of the NUL character
  group('Overlong representation of the NUL character', [
    bad('c080'),
    bad('e08080'),
    bad('f0808080'),
    bad('f880808080'),
    bad('fc8080808080'),
  ]);

  // 5.1 Single UTF-16 surrogates
  group('Single UTF-16 surrogates', [
    bad('eda080'),
    bad('edadbf'),
    bad('edae80'),
    bad('edafbf'),
    bad('edb080'),
    bad('edbe80'),
    bad('edbfbf'),
  ]);

  // 5.2 Paired UTF-16 surrogates
  group('Paired UTF-16 surrogates', [
    bad('eda080edb080'),
    bad('eda080edbfbf'),
    bad('edadbfedb080'),
    bad('edadbfedbfbf'),
    bad('edae80edb080'),
    bad('edae80edbfbf'),
    bad('edafbfedb080'),
    bad('edafbfedbfbf'),
  ]);

  // 5.3 Non-character code points: valid UTF-8 (RFC 3629)
  const nonCharacters: Utf8Sequence[] = [ok('efbfbe'), ok('efbfbf')];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // beyond U+10FFFF
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
        nonCharacters.push(ok(Buffer.from([z1, z2, 0xbf, z3])));
      }
    }
  }
  group('Non-character code points (valid UTF-8)', nonCharacters);

  // Unicode "specials", such as the replacement character
  group('Unicode specials (i.e. replacement char)', [
    ok('efbfb9'),
    ok('efbfba'),
    ok('efbfbb'),
    ok('efbfbc'),
    ok('efbfbd'),
    ok('efbfbe'),
    ok('efbfbf'),
  ]);

  return groups;
}
