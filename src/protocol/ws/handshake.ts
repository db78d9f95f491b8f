/**
 * The opening handshake (RFC 6455 section 4), both roles, on parsed HTTP heads: no sockets here.
 * The server validates a client's request and builds the 101 answer or a refusal; the client builds its
 * request and validates the server's answer. Randomness (the key's 16 bytes) is injected.
 */
import { createHash } from 'node:crypto';
import { type HeaderValue, hasToken, headerString, isToken, splitList, trimOws } from '../../util/tokens.js';
import { HandshakeError } from '../errors.js';
import { type Extension, ExtensionSyntaxError, parseExtensions } from './extensions.js';

/** Section 1.3: the GUID concatenated with the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Section 4.1: 16 random bytes, base64-encoded, which is 24 characters ending in "==". */
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

export type Headers = Readonly<Record<string, HeaderValue>>;

export interface RequestHead {
  readonly method: string;
  /** "1.1" or higher for an upgrade. */
  readonly httpVersion: string;
  /** Lower-case names, as Node gives them. */
  readonly headers: Headers;
}

export interface ResponseHead {
  readonly status: number;
  readonly headers: Headers;
}

export function generateKey(random16: Uint8Array): string {
  if (random16.length !== 16) throw new RangeError('a Sec-WebSocket-Key is made of exactly 16 random bytes');
  return Buffer.from(random16.buffer, random16.byteOffset, 16).toString('base64');
}

export function isValidKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** Section 4.2.2 step 5.4: base64(SHA-1(key + GUID)). */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64');
}

/** Parse a Sec-WebSocket-Protocol list: tokens, no duplicates. Returns null when malformed. */
export function parseProtocolList(value: string | undefined): string[] | null {
  if (value === undefined) return [];
  const list = splitList(value);
  const seen = new Set<string>();
  for (const p of list) {
    if (!isToken(p) || seen.has(p)) return null;
    seen.add(p);
  }
  return list;
}

// -----------------------------------------------------------------------------------------------
// Server role

export interface ClientRequest {
  readonly key: string;
  /** Offered subprotocols, in the client's order of preference. */
  readonly protocols: string[];
  /** Offered extensions, parsed (section 9.1). */
  readonly extensions: Extension[];
  readonly origin: string | undefined;
}

/**
 * Validate a client's opening handshake (section 4.2.1). Throws a HandshakeError carrying the status to
 * answer: 405 for a method other than GET, 400 for a malformed request, 426 with
 * `Sec-WebSocket-Version: 13` for a version other than 13 (section 4.4).
 */
export function validateClientRequest(req: RequestHead): ClientRequest {
  if (req.method !== 'GET') {
    throw new HandshakeError('WS_ERR_BAD_METHOD', 405, 'the opening handshake must be a GET request', {
      Allow: 'GET',
    });
  }
  // "major.minor" in digits (a version like "x.y" would otherwise compare as NaN and slip through).
  const http = /^(\d+)\.(\d+)$/.exec(req.httpVersion);
  const major = http === null ? 0 : Number(http[1]);
  const minor = http === null ? 0 : Number(http[2]);
  if (major < 1 || (major === 1 && minor < 1)) {
    throw new HandshakeError(
      'WS_ERR_BAD_HTTP_VERSION',
      400,
      'the opening handshake needs HTTP/1.1 or higher',
    );
  }
  const h = req.headers;
  if (!hasToken(headerString(h.upgrade), 'websocket')) {
    throw new HandshakeError('WS_ERR_BAD_UPGRADE', 400, 'the Upgrade header must contain "websocket"');
  }
  if (!hasToken(headerString(h.connection), 'upgrade')) {
    throw new HandshakeError('WS_ERR_BAD_CONNECTION', 400, 'the Connection header must contain "Upgrade"');
  }
  const version = owsTrimmed(headerString(h['sec-websocket-version']));
  if (version !== '13') {
    throw new HandshakeError(
      'WS_ERR_BAD_VERSION',
      426,
      'unsupported Sec-WebSocket-Version; this server speaks 13',
      {
        'Sec-WebSocket-Version': '13',
      },
    );
  }
  const key = owsTrimmed(headerString(h['sec-websocket-key']));
  if (key === undefined || !isValidKey(key)) {
    throw new HandshakeError('WS_ERR_BAD_KEY', 400, 'missing or invalid Sec-WebSocket-Key');
  }
  return { key, ...readOffers(h) };
}

/**
 * RFC 8441: a WebSocket requested on an HTTP/2 stream by an extended CONNECT (`:method` CONNECT,
 * `:protocol` websocket). There is no key and no accept value: the stream itself is the connection.
 * An unknown `:protocol` is refused with 501, a missing one with 400.
 */
export function validateExtendedConnect(req: { method: string; headers: Headers }): ClientRequest {
  const h = req.headers;
  const protocol = headerString(h[':protocol']);
  if (req.method !== 'CONNECT' || protocol === undefined) {
    throw new HandshakeError('WS_ERR_BAD_METHOD', 400, 'an HTTP/2 WebSocket needs an extended CONNECT');
  }
  if (protocol !== 'websocket') {
    throw new HandshakeError('WS_ERR_BAD_UPGRADE', 501, `unsupported :protocol ${protocol}`);
  }
  const version = owsTrimmed(headerString(h['sec-websocket-version']));
  if (version !== '13') {
    throw new HandshakeError(
      'WS_ERR_BAD_VERSION',
      400,
      'unsupported Sec-WebSocket-Version; this server speaks 13',
      {
        'Sec-WebSocket-Version': '13',
      },
    );
  }
  return { key: '', ...readOffers(h) };
}

/** Subprotocols, extensions and origin, the same for HTTP/1.1 and HTTP/2 requests. */
function readOffers(h: Headers): Omit<ClientRequest, 'key'> {
  const protocols = parseProtocolList(headerString(h['sec-websocket-protocol']));
  if (protocols === null) {
    throw new HandshakeError('WS_ERR_BAD_PROTOCOL', 400, 'invalid Sec-WebSocket-Protocol header');
  }
  let extensions: Extension[] = [];
  const extensionHeader = headerString(h['sec-websocket-extensions']);
  if (extensionHeader !== undefined && trimOws(extensionHeader) !== '') {
    try {
      extensions = parseExtensions(extensionHeader);
    } catch (error) {
      const detail = error instanceof ExtensionSyntaxError ? `: ${error.message}` : '';
      throw new HandshakeError(
        'WS_ERR_BAD_EXTENSIONS',
        400,
        `invalid Sec-WebSocket-Extensions header${detail}`,
      );
    }
  }
  // Browsers send Origin; section 10.2 leaves the policy to the server.
  const origin = headerString(h.origin);
  return { protocols, extensions, origin };
}

export interface ServerAcceptance {
  readonly key: string;
  readonly protocol?: string | undefined;
  /** The negotiated Sec-WebSocket-Extensions value, if any. */
  readonly extensions?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Build the 101 response head (section 4.2.2 step 5). */
export function buildAcceptResponse(a: ServerAcceptance): string {
  let head =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptFor(a.key)}\r\n`;
  if (a.protocol !== undefined) head += `Sec-WebSocket-Protocol: ${a.protocol}\r\n`;
  if (a.extensions !== undefined && a.extensions !== '')
    head += `Sec-WebSocket-Extensions: ${a.extensions}\r\n`;
  if (a.headers !== undefined) head += formatHeaderLines(a.headers);
  return `${head}\r\n`;
}

// -----------------------------------------------------------------------------------------------
// Client role

export interface ClientHandshake {
  readonly key: string;
  readonly headers: Record<string, string>;
}

export interface ClientHandshakeOptions {
  /** 16 random bytes for the key. */
  readonly random16: Uint8Array;
  readonly protocols?: readonly string[];
  readonly extensions?: string;
  readonly origin?: string;
}

/** The request headers of section 4.1 (Host is the HTTP client's business). */
export function buildClientRequest(options: ClientHandshakeOptions): ClientHandshake {
  const key = generateKey(options.random16);
  const headers: Record<string, string> = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  };
  const protocols = options.protocols ?? [];
  if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(', ');
  if (options.extensions !== undefined && options.extensions !== '') {
    headers['Sec-WebSocket-Extensions'] = options.extensions;
  }
  if (options.origin !== undefined) headers.Origin = options.origin;
  return { key, headers };
}

export interface ServerResponse {
  readonly protocol: string;
  readonly extensions: Extension[];
}

/**
 * Validate the server's answer (section 4.1, "the client MUST validate the server's response"). A
 * status other than 101 fails the connection, as do missing or wrong Upgrade, Connection and
 * Sec-WebSocket-Accept headers, a subprotocol that was not offered, and (unless `acceptExtension` says
 * yes) any extension, since the client offered none it did not understand.
 */
export function validateServerResponse(
  res: ResponseHead,
  sent: { key: string; protocols: readonly string[] },
  acceptExtension: (ext: Extension) => boolean = () => false,
): ServerResponse {
  if (res.status !== 101) {
    throw new HandshakeError('WS_ERR_BAD_STATUS', res.status, `unexpected server response: ${res.status}`);
  }
  const h = res.headers;
  if (!hasToken(headerString(h.upgrade), 'websocket')) {
    throw new HandshakeError('WS_ERR_BAD_UPGRADE', 101, 'the server did not answer Upgrade: websocket');
  }
  if (!hasToken(headerString(h.connection), 'upgrade')) {
    throw new HandshakeError('WS_ERR_BAD_CONNECTION', 101, 'the server did not answer Connection: Upgrade');
  }
  const accept = owsTrimmed(headerString(h['sec-websocket-accept']));
  if (accept !== acceptFor(sent.key)) {
    throw new HandshakeError('WS_ERR_BAD_ACCEPT', 101, 'Sec-WebSocket-Accept does not match the key sent');
  }
  return readAgreement(h, sent.protocols, acceptExtension, 101);
}

/**
 * RFC 8441: the answer to an extended CONNECT. A 2xx status opens the stream as the WebSocket (no
 * accept value: HTTP/2 itself ties the response to the request); the subprotocol and extensions are
 * checked as for HTTP/1.1.
 */
export function validateExtendedConnectResponse(
  res: ResponseHead,
  sent: { protocols: readonly string[] },
  acceptExtension: (ext: Extension) => boolean = () => false,
): ServerResponse {
  if (res.status < 200 || res.status > 299) {
    throw new HandshakeError('WS_ERR_BAD_STATUS', res.status, `unexpected server response: ${res.status}`);
  }
  return readAgreement(res.headers, sent.protocols, acceptExtension, res.status);
}

/** The subprotocol and extensions a server's answer chose, each one the client offered. */
function readAgreement(
  h: Headers,
  offered: readonly string[],
  acceptExtension: (ext: Extension) => boolean,
  status: number,
): ServerResponse {
  const protocolHeader = headerString(h['sec-websocket-protocol']);
  let protocol = '';
  if (protocolHeader !== undefined) {
    protocol = trimOws(protocolHeader);
    if (!offered.includes(protocol)) {
      throw new HandshakeError(
        'WS_ERR_UNREQUESTED_PROTOCOL',
        status,
        `the server chose a subprotocol not offered: ${protocol}`,
      );
    }
  }
  let extensions: Extension[] = [];
  const extensionHeader = headerString(h['sec-websocket-extensions']);
  if (extensionHeader !== undefined && trimOws(extensionHeader) !== '') {
    try {
      extensions = parseExtensions(extensionHeader);
    } catch {
      throw new HandshakeError(
        'WS_ERR_BAD_EXTENSIONS',
        status,
        'invalid Sec-WebSocket-Extensions in the response',
      );
    }
    for (const ext of extensions) {
      if (!acceptExtension(ext)) {
        throw new HandshakeError(
          'WS_ERR_UNREQUESTED_EXTENSION',
          status,
          `the server chose an extension not offered: ${ext.name}`,
        );
      }
    }
  }
  return { protocol, extensions };
}

// -----------------------------------------------------------------------------------------------

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

function formatHeaderLines(headers: Readonly<Record<string, string>>): string {
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    // Refuse header injection from application-supplied values.
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new TypeError(`invalid header ${name}`);
    out += `${name}: ${value}\r\n`;
  }
  return out;
}

/** A complete HTTP/1.1 refusal with a short text body, closing the connection. */
export function buildRefusal(
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): string {
  const body = `${message}\n`;
  const text = STATUS_TEXT[status] ?? 'Error';
  return (
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${formatHeaderLines(headers)}\r\n${body}`
  );
}

function owsTrimmed(value: string | undefined): string | undefined {
  return value === undefined ? undefined : trimOws(value);
}
