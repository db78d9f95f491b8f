/**
 * HTTP header helpers shared by the handshake cores. RFC 7230 section 3.2.6: a token is 1*tchar.
 */

const TCHAR = (() => {
  const table = new Uint8Array(128);
  const chars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
})();

export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Trim optional whitespace (RFC 9110 section 5.6.3: OWS is SP and HTAB only). Not
 * String.prototype.trim, which also strips U+00A0 and line terminators: a latin1 head's 0xA0 byte is
 * obs-text, part of the value, and `Connection: \xa0Upgrade` must not pass for `Upgrade`.
 */
export function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Split a comma-separated list (`#token` in RFC 7230 section 7), trimming optional whitespace and
 * dropping empty elements, as the ABNF list rule allows.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const trimmed = trimOws(part);
    if (trimmed !== '') out.push(trimmed);
  }
  return out;
}

/** True when the comma-separated header value contains `token`, compared case-insensitively. */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  const wanted = token.toLowerCase();
  for (const part of splitList(value)) if (part.toLowerCase() === wanted) return true;
  return false;
}

/** Header values as Node gives them: duplicates of most headers are joined, a few arrive as arrays. */
export type HeaderValue = string | string[] | undefined;

export function headerString(value: HeaderValue): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}
