/**
 * The Sec-WebSocket-Extensions grammar (RFC 6455 section 9.1):
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *     ; with quoted-string, the unescaped value MUST conform to the token ABNF
 *
 * Parsing is strict: a header that does not match is refused (the server answers 400, the client fails
 * the connection). Which extensions are accepted is up to the extension (permessage-deflate plugs in).
 */
import { isToken } from '../../util/tokens.js';

export interface ExtensionParams {
  readonly [name: string]: string | true;
}

export interface Extension {
  readonly name: string;
  /** Parameter values; `true` for a parameter without a value. Order of first appearance is kept. */
  readonly params: ExtensionParams;
  /** Every parameter in order, duplicates included (an extension may refuse duplicates). */
  readonly paramList: ReadonlyArray<readonly [string, string | true]>;
}

export class ExtensionSyntaxError extends Error {
  override readonly name = 'ExtensionSyntaxError';
}

const enum C {
  Comma = 0x2c,
  Semicolon = 0x3b,
  Equals = 0x3d,
  Quote = 0x22,
  Backslash = 0x5c,
  Space = 0x20,
  Tab = 0x09,
}

class Scanner {
  at = 0;
  constructor(readonly text: string) {}

  skipWhitespace(): void {
    while (this.at < this.text.length) {
      const c = this.text.charCodeAt(this.at);
      if (c !== C.Space && c !== C.Tab) break;
      this.at++;
    }
  }

  done(): boolean {
    return this.at >= this.text.length;
  }

  peek(): number {
    return this.text.charCodeAt(this.at);
  }

  token(what: string): string {
    const start = this.at;
    while (this.at < this.text.length && isTokenChar(this.text.charCodeAt(this.at))) this.at++;
    if (this.at === start) throw new ExtensionSyntaxError(`expected ${what} at offset ${start}`);
    return this.text.slice(start, this.at);
  }

  quotedString(): string {
    // The opening quote is at `at`.
    this.at++;
    let out = '';
    while (this.at < this.text.length) {
      const c = this.text.charCodeAt(this.at++);
      if (c === C.Quote) return out;
      if (c === C.Backslash) {
        if (this.at >= this.text.length) break;
        out += this.text[this.at++];
      } else {
        out += String.fromCharCode(c);
      }
    }
    throw new ExtensionSyntaxError('unterminated quoted-string');
  }
}

function isTokenChar(c: number): boolean {
  return c < 128 && isToken(String.fromCharCode(c));
}

/** Parse a Sec-WebSocket-Extensions value (several header lines joined with ", " form one list). */
export function parseExtensions(value: string): Extension[] {
  const s = new Scanner(value);
  const out: Extension[] = [];
  for (;;) {
    s.skipWhitespace();
    // The list rule allows empty elements (", ,"); skip them.
    if (!s.done() && s.peek() === C.Comma) {
      s.at++;
      continue;
    }
    if (s.done()) break;
    const name = s.token('an extension name');
    const paramList: Array<[string, string | true]> = [];
    // No prototype: a parameter named "constructor", "toString" or "__proto__" is an ordinary key.
    const params: Record<string, string | true> = Object.create(null);
    s.skipWhitespace();
    while (!s.done() && s.peek() === C.Semicolon) {
      s.at++;
      s.skipWhitespace();
      const key = s.token('a parameter name');
      s.skipWhitespace();
      let val: string | true = true;
      if (!s.done() && s.peek() === C.Equals) {
        s.at++;
        s.skipWhitespace();
        if (!s.done() && s.peek() === C.Quote) {
          val = s.quotedString();
          if (!isToken(val)) throw new ExtensionSyntaxError(`quoted value of ${key} is not a token`);
        } else {
          val = s.token(`a value for ${key}`);
        }
        s.skipWhitespace();
      }
      paramList.push([key, val]);
      if (!Object.hasOwn(params, key)) params[key] = val;
    }
    out.push({ name, params, paramList });
    if (s.done()) break;
    if (s.peek() !== C.Comma) throw new ExtensionSyntaxError(`unexpected character at offset ${s.at}`);
    s.at++;
  }
  if (out.length === 0) throw new ExtensionSyntaxError('empty extension list');
  return out;
}

/** Format extensions back to a header value. */
export function formatExtensions(extensions: ReadonlyArray<Pick<Extension, 'name' | 'paramList'>>): string {
  return extensions
    .map((e) => [e.name, ...e.paramList.map(([k, v]) => (v === true ? k : `${k}=${v}`))].join('; '))
    .join(', ');
}
