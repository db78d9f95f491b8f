/**
 * The HTTP/1.1 opening handshake (RFC 6455 section 4), both sides, over a raw socket: the conformance
 * peer does it itself rather than trusting `node:http`'s upgrade handling or Conduit's handshake code.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { acceptFor } from './wire.js';

export interface Head {
  /** Request line or status line. */
  startLine: string;
  /** Lower-cased header names; repeated headers joined with ', '. */
  headers: Map<string, string>;
  /** Bytes after the blank line (the first frames, possibly). */
  rest: Buffer;
}

const MAX_HEAD = 16 * 1024;

/** Read up to and including the blank line that ends an HTTP head. */
export function readHead(socket: Socket, timeoutMs: number): Promise<Head> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buffered.length > MAX_HEAD) fail(new Error('HTTP head over 16 KiB'));
        return;
      }
      cleanup();
      // Hold further bytes until the peer attaches its own 'data' listener (FuzzPeer resumes).
      socket.pause();
      const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
      }
      resolve({ startLine: lines[0] ?? '', headers, rest: buffered.subarray(end + 4) });
    };
    const onClose = () =>
      fail(new Error(`connection closed during the opening handshake (${buffered.length} bytes read)`));
    const onError = (error: Error) => fail(error);
    const timer = setTimeout(() => fail(new Error('opening handshake timed out')), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
  });
}

const tokens = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');

/** Client side: send the upgrade request for `url`, check the 101 answer; returns the bytes after it. */
export async function clientHandshake(socket: Socket, url: URL, timeoutMs: number): Promise<Buffer> {
  return (await clientHandshakeOffering(socket, url, timeoutMs, null)).rest;
}

/**
 * Client side, offering extensions: `offer` goes out as Sec-WebSocket-Extensions (none when null).
 * Returns the bytes after the 101 and the server's Sec-WebSocket-Extensions, left to the caller to
 * judge; without an offer, a response naming extensions is an error (RFC 6455 section 4.1).
 */
export async function clientHandshakeOffering(
  socket: Socket,
  url: URL,
  timeoutMs: number,
  offer: string | null,
): Promise<{ rest: Buffer; extensions: string | null }> {
  const key = randomBytes(16).toString('base64');
  socket.write(
    [
      // The request Autobahn's fuzzingclient sends (capitalized "WebSocket" included).
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      'User-Agent: AutobahnTestSuite/0.8.2-0.10.9 (conduit conformance)',
      `Host: ${url.host}`,
      'Upgrade: WebSocket',
      'Connection: Upgrade',
      'Pragma: no-cache',
      'Cache-Control: no-cache',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
      ...(offer === null ? [] : [`Sec-WebSocket-Extensions: ${offer}`]),
      '',
      '',
    ].join('\r\n'),
  );
  const head = await readHead(socket, timeoutMs);
  const status = /^HTTP\/1\.1 (\d{3})/.exec(head.startLine);
  if (status === null || status[1] !== '101') throw new Error(`expected 101, got "${head.startLine}"`);
  if (!tokens(head.headers.get('upgrade')).includes('websocket'))
    throw new Error('101 without Upgrade: websocket');
  if (!tokens(head.headers.get('connection')).includes('upgrade'))
    throw new Error('101 without Connection: Upgrade');
  if (head.headers.get('sec-websocket-accept') !== acceptFor(key)) {
    throw new Error(`wrong Sec-WebSocket-Accept: ${head.headers.get('sec-websocket-accept')}`);
  }
  const extensions = head.headers.get('sec-websocket-extensions') ?? null;
  if (offer === null && extensions !== null) {
    throw new Error(`server answered with extensions we did not offer: ${extensions}`);
  }
  return { rest: head.rest, extensions };
}

export interface AcceptedRequest {
  /** Request target (path and query), when the request line could be read. */
  target: string | null;
  /** What is wrong with the request (then it was answered 400). */
  problems: string[];
  rest: Buffer;
  /** The request's Sec-WebSocket-Extensions (the client's offers), or null. */
  offer: string | null;
  /** The Sec-WebSocket-Extensions we answered with, or null. */
  response: string | null;
}

/**
 * Server side: read the client's upgrade request, check it against RFC 6455 4.1 and answer 101, or 400
 * when something is wrong. Returns the request target and the bytes after the request head. `respond`
 * chooses the 101's Sec-WebSocket-Extensions from the request target and the client's offers (none
 * when it returns null).
 */
export async function serverHandshake(
  socket: Socket,
  timeoutMs: number,
  respond?: (target: string | null, offer: string | null) => string | null,
): Promise<AcceptedRequest> {
  const head = await readHead(socket, timeoutMs);
  const problems: string[] = [];
  const line = /^GET (\S+) HTTP\/1\.1$/.exec(head.startLine);
  if (line === null) problems.push(`request line "${head.startLine}" is not GET ... HTTP/1.1`);
  if (!head.headers.has('host')) problems.push('no Host header');
  if (!tokens(head.headers.get('upgrade')).includes('websocket')) problems.push('no Upgrade: websocket');
  if (!tokens(head.headers.get('connection')).includes('upgrade')) problems.push('no Connection: Upgrade');
  if (head.headers.get('sec-websocket-version') !== '13') problems.push('Sec-WebSocket-Version is not 13');
  const key = head.headers.get('sec-websocket-key') ?? '';
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key) || Buffer.from(key, 'base64').length !== 16) {
    problems.push(`Sec-WebSocket-Key "${key}" is not 16 bytes in base64`);
  }
  const target = /^\S+ (\S+)/.exec(head.startLine)?.[1] ?? null;
  const offer = head.headers.get('sec-websocket-extensions') ?? null;
  if (problems.length > 0) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return { target, problems, rest: head.rest, offer, response: null };
  }
  const response = respond === undefined ? null : respond(target, offer);
  socket.write(
    [
      // The answer Autobahn's fuzzingserver gives (capitalized "WebSocket" included).
      'HTTP/1.1 101 Switching Protocols',
      'Server: AutobahnTestSuite/0.8.2-0.10.9 (conduit conformance)',
      'Upgrade: WebSocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${acceptFor(key)}`,
      ...(response === null ? [] : [`Sec-WebSocket-Extensions: ${response}`]),
      '',
      '',
    ].join('\r\n'),
  );
  return { target, problems, rest: head.rest, offer, response };
}
