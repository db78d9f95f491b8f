/**
 * An HTTP/1.1 request-head parser (RFC 9112 sections 2-5), sans-I/O: bytes in, a parsed head out.
 * Used where a full HTTP server is more than needed: a standalone WebSocket server reads one request
 * head per connection and then speaks WebSocket, so it skips Node's http machinery (and its memory
 * per connection).
 *
 * Strict where leniency has caused request smuggling: CRLF line endings only, no whitespace between
 * a field name and its colon, no obsolete line folding, no control characters in values. Bounded: a
 * head larger than `maxBytes` is refused with 431 before it is all buffered.
 */

export class HttpParseError extends Error {
  override readonly name = 'HttpParseError';
  constructor(
    /** The status to answer with: 400, 431 or 505. */
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ParsedRequestHead {
  readonly method: string;
  /** The request target as sent (origin-form for an upgrade: "/path?query"). */
  readonly url: string;
  /** "1.1", "1.0". */
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** Lower-case names; repeated fields joined with ", " (RFC 9110 section 5.3). */
  readonly headers: Record<string, string>;
  /** Names and values as received, alternating. */
  readonly rawHeaders: string[];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible ASCII, obs-text, SP and HTAB; no other control characters. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Origin-form or absolute-form targets (and "*"): no whitespace or control characters. */
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;

const CRLFCRLF = Buffer.from('\r\n\r\n');

export const DEFAULT_MAX_HEAD_BYTES = 16 * 1024;

export class RequestHeadParser {
  private chunks: Buffer[] = [];
  private length = 0;
  private done = false;
  /** Bytes after the head (the start of the WebSocket stream), once a head was parsed. */
  rest: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes = DEFAULT_MAX_HEAD_BYTES) {}

  /**
   * Feed bytes; returns the head once complete (then `rest` holds what followed it), null while more
   * bytes are needed. Throws HttpParseError for a malformed or oversized head.
   */
  push(chunk: Buffer): ParsedRequestHead | null {
    if (this.done) throw new Error('the request head was already parsed');
    // Look for the end of the head in the new bytes, plus the 3 bytes before them.
    const searchFrom = Math.max(0, this.length - 3);
    this.chunks.push(chunk);
    this.length += chunk.length;
    const all = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.length);
    this.chunks = [all];
    const end = all.indexOf(CRLFCRLF, searchFrom);
    if (end === -1) {
      if (this.length > this.maxBytes) {
        throw new HttpParseError(431, `request head larger than ${this.maxBytes} bytes`);
      }
      return null;
    }
    if (end + 4 > this.maxBytes)
      throw new HttpParseError(431, `request head larger than ${this.maxBytes} bytes`);
    this.done = true;
    this.rest = all.subarray(end + 4);
    this.chunks = [];
    return parseHead(all.toString('latin1', 0, end));
  }
}

function parseHead(text: string): ParsedRequestHead {
  const lines = text.split('\r\n');
  // RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request-line.
  while (lines.length > 0 && lines[0] === '') lines.shift();
  const requestLine = lines.shift();
  if (requestLine === undefined) throw new HttpParseError(400, 'empty request');
  if (/[^\r]\n|^\n/.test(text)) throw new HttpParseError(400, 'bare LF in the request head');
  const parts = requestLine.split(' ');
  if (parts.length !== 3) throw new HttpParseError(400, 'malformed request line');
  const [method, url, version] = parts as [string, string, string];
  if (!TOKEN.test(method)) throw new HttpParseError(400, 'malformed method');
  if (!TARGET.test(url)) throw new HttpParseError(400, 'malformed request target');
  const v = VERSION.exec(version);
  if (v === null) throw new HttpParseError(400, 'malformed HTTP version');
  const major = Number(v[1]);
  const minor = Number(v[2]);
  if (major !== 1) throw new HttpParseError(505, `HTTP/${major}.${minor} is not supported here`);
  const headers: Record<string, string> = Object.create(null);
  const rawHeaders: string[] = [];
  for (const line of lines) {
    if (line === '') throw new HttpParseError(400, 'empty line inside the head');
    if (line[0] === ' ' || line[0] === '\t') throw new HttpParseError(400, 'obsolete line folding');
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpParseError(400, 'malformed header field');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpParseError(400, 'malformed header field name');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) throw new HttpParseError(400, `invalid characters in the ${name} field`);
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const previous = headers[key];
    // RFC 9112 section 3.2: more than one Host field is a 400.
    if (key === 'host' && previous !== undefined) throw new HttpParseError(400, 'more than one Host header');
    headers[key] = previous === undefined ? value : `${previous}, ${value}`;
  }
  if (major === 1 && minor >= 1 && headers.host === undefined) {
    throw new HttpParseError(400, 'missing Host header');
  }
  return {
    method,
    // A fresh string: a slice would keep the whole head alive for as long as the URL is kept.
    url: Buffer.from(url, 'latin1').toString('latin1'),
    httpVersion: `${major}.${minor}`,
    httpVersionMajor: major,
    httpVersionMinor: minor,
    headers,
    rawHeaders,
  };
}
