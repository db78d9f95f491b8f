/**
 * An HTTP/1.1 request-head parser (RFC 9112 sections 2-5), sans-I/O: bytes in, a parsed head out.
 * Used where a full HTTP server is more than needed: a standalone WebSocket server reads one request
 * head per connection and then speaks WebSocket, so it skips Node's http machinery (and its memory
 * per connection).
 *
 * Strict where leniency has caused request smuggling: CRLF line endings only, no whitespace between
 * a field name and its colon, no obsolete line folding, no control characters in values. Bounded: a
 * head larger than `maxBytes` is refused with 431 before it is all buffered, and so is one with more
 * than MAX_HEADER_FIELDS fields (`fieldLinesError`, which servers on Node's parser call too).
 */

import { trimOws } from '../../util/tokens.js';

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

/**
 * Header fields one request may carry: past it, 431. Apache's LimitRequestFields default; browsers
 * send about 20, and Node's own limit (2000, `maxHeadersCount`) drops the rest silently instead.
 */
export const MAX_HEADER_FIELDS = 100;

export interface FieldLineRules {
  /** HTTP/1.1 and later: exactly one Host (RFC 9112 section 3.2). */
  requireHost: boolean;
  /** A WebSocket upgrade request: it must not have a body (no Transfer-Encoding, Content-Length 0). */
  upgrade?: boolean;
  /** Default MAX_HEADER_FIELDS. */
  maxFields?: number;
}

/**
 * The rules on a request's field lines that a parser of single fields does not see, by their RFC text;
 * `rawHeaders` alternates names and values as received (Node's `req.rawHeaders`). Null when they hold,
 * else the error to answer with (and the connection is to be closed after it):
 *
 * - RFC 9112 section 3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
 *   request message that lacks a Host header field and to any that contains more than one Host header
 *   field line".
 * - RFC 9112 section 6.3: a Content-Length that is not one decimal number (repeated values that differ,
 *   "5, 6") makes the framing invalid: "the server MUST respond with a 400 (Bad Request) status code
 *   and then close the connection".
 * - RFC 9112 section 6.1: "A server MAY reject a request that contains both Content-Length and
 *   Transfer-Encoding ... Regardless, the server MUST close the connection after responding". We reject:
 *   the two framings disagreeing is the request-smuggling shape.
 * - An upgrade request with a body: its bytes would be read as WebSocket frames here and as the next
 *   request by an intermediary that honoured the body (RFC 6455 section 4.1 sends a GET without one).
 * - More than `maxFields` field lines: 431 (RFC 6585 section 5).
 */
export function fieldLinesError(rawHeaders: readonly string[], rules: FieldLineRules): HttpParseError | null {
  const maxFields = rules.maxFields ?? MAX_HEADER_FIELDS;
  if (rawHeaders.length / 2 > maxFields) {
    return new HttpParseError(431, `more than ${maxFields} header fields`);
  }
  let hosts = 0;
  let length: string | undefined;
  let transferEncoding = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Only three names matter here: compare lengths before case-folding.
    if (name.length === 4 && name.toLowerCase() === 'host') {
      hosts++;
    } else if (name.length === 14 && name.toLowerCase() === 'content-length') {
      for (const item of rawHeaders[i + 1]!.split(',')) {
        const value = trimOws(item);
        if (!/^\d+$/.test(value) || (length !== undefined && length !== value)) {
          return new HttpParseError(400, 'invalid or conflicting Content-Length');
        }
        length = value;
      }
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      transferEncoding = true;
    }
  }
  if (hosts > 1) return new HttpParseError(400, 'more than one Host header');
  if (hosts === 0 && rules.requireHost) return new HttpParseError(400, 'missing Host header');
  if (transferEncoding && length !== undefined) {
    return new HttpParseError(400, 'both Content-Length and Transfer-Encoding');
  }
  if (rules.upgrade === true && (transferEncoding || (length !== undefined && Number(length) !== 0))) {
    return new HttpParseError(400, 'an upgrade request with a body');
  }
  return null;
}

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
    headers[key] = previous === undefined ? value : `${previous}, ${value}`;
  }
  const invalid = fieldLinesError(rawHeaders, { requireHost: major === 1 && minor >= 1 });
  if (invalid !== null) throw invalid;
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
