/**
 * Shared helpers of the interop tests: servers on ephemeral ports (Conduit and ws), deterministic
 * payloads, and promises for the events a test waits on, each bounded by a deadline so a missing event
 * fails the test with a message instead of hanging the run.
 */
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import WebSocket, { WebSocketServer as WsServer, type ServerOptions as WsServerOptions } from 'ws';
import {
  type WebSocketConnection,
  WebSocketServer,
  type WebSocketServerOptions,
} from '../../../src/index.js';

/** The sizes issue 2 asks for: every length encoding and its edges, up to the 16 MiB default limit. */
export const MESSAGE_SIZES = [0, 1, 125, 126, 65535, 65536, 1024 * 1024, 16 * 1024 * 1024] as const;

/** Reject with a clear message when `promise` takes longer than `ms`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Bytes that differ from position to position (a misplaced or dropped chunk shows up as a mismatch). */
export function patternBytes(size: number, seed = 7): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A text of exactly `size` UTF-8 bytes, mixing 1-, 2- and 3-byte characters where it fits. */
export function patternText(size: number): string {
  const unit = 'a\u00e9\u20ac'; // 1 + 2 + 3 bytes
  const whole = Math.floor(size / 6);
  return unit.repeat(whole) + 'z'.repeat(size - whole * 6);
}

// Conduit server ------------------------------------------------------------------------------

export interface ConduitPeer {
  readonly server: WebSocketServer;
  readonly port: number;
  /** ws://127.0.0.1:PORT */
  readonly url: string;
  /** The next server-side connection with its request. */
  nextConnection(): Promise<{ conn: WebSocketConnection; req: IncomingMessage }>;
  close(): Promise<void>;
}

/** An echo handler: every message goes back with its type. */
export function echo(conn: WebSocketConnection): void {
  conn.on('message', (data, isBinary) => conn.send(isBinary ? data : data.toString('utf8')));
}

/**
 * A standalone Conduit WebSocketServer on 127.0.0.1 and an ephemeral port. `onConnection` (echo by
 * default) is attached before the connection starts reading.
 */
export async function listenConduit(
  options: Omit<WebSocketServerOptions, 'port' | 'host' | 'server' | 'noServer'> = {},
  onConnection: (conn: WebSocketConnection, req: IncomingMessage) => void = echo,
): Promise<ConduitPeer> {
  const server = new WebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
  const waiting: Array<(c: { conn: WebSocketConnection; req: IncomingMessage }) => void> = [];
  const arrived: Array<{ conn: WebSocketConnection; req: IncomingMessage }> = [];
  server.on('connection', (conn, req) => {
    onConnection(conn, req);
    const next = waiting.shift();
    if (next !== undefined) next({ conn, req });
    else arrived.push({ conn, req });
  });
  await within(5000, 'the Conduit server to listen', new Promise<void>((r) => server.once('listening', r)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    server,
    port: address.port,
    url: `ws://127.0.0.1:${address.port}`,
    nextConnection: () =>
      within(
        5000,
        'a server-side connection',
        new Promise((resolve) => {
          const first = arrived.shift();
          if (first !== undefined) resolve(first);
          else waiting.push(resolve);
        }),
      ),
    close: () => within(10_000, 'the Conduit server to close', server.close()),
  };
}

// ws server ----------------------------------------------------------------------------------

export interface WsPeer {
  readonly server: WsServer;
  readonly url: string;
  nextConnection(): Promise<{ ws: WebSocket; req: IncomingMessage }>;
  close(): Promise<void>;
}

export function wsEcho(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

/** A ws WebSocketServer on 127.0.0.1 and an ephemeral port; `onConnection` (echo by default). */
export async function listenWs(
  options: Omit<WsServerOptions, 'port' | 'host' | 'server' | 'noServer'> = {},
  onConnection: (ws: WebSocket, req: IncomingMessage) => void = wsEcho,
): Promise<WsPeer> {
  const server = new WsServer({ ...options, port: 0, host: '127.0.0.1' });
  const waiting: Array<(c: { ws: WebSocket; req: IncomingMessage }) => void> = [];
  const arrived: Array<{ ws: WebSocket; req: IncomingMessage }> = [];
  server.on('connection', (ws, req) => {
    ws.on('error', () => {}); // protocol errors show up as close codes in the tests
    onConnection(ws, req);
    const next = waiting.shift();
    if (next !== undefined) next({ ws, req });
    else arrived.push({ ws, req });
  });
  await within(5000, 'the ws server to listen', new Promise<void>((r) => server.once('listening', r)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    server,
    url: `ws://127.0.0.1:${address.port}`,
    nextConnection: () =>
      within(
        5000,
        'a ws server-side connection',
        new Promise((resolve) => {
          const first = arrived.shift();
          if (first !== undefined) resolve(first);
          else waiting.push(resolve);
        }),
      ),
    close: () =>
      within(
        5000,
        'the ws server to close',
        new Promise<void>((resolve) => {
          for (const client of server.clients) client.terminate();
          server.close(() => resolve());
        }),
      ),
  };
}

// ws client ----------------------------------------------------------------------------------

/** Open a ws client; rejects on 'error' or 'unexpected-response'. */
export function openWs(
  url: string,
  protocols?: string | string[],
  options?: WebSocket.ClientOptions,
): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, options);
  return within(
    5000,
    `a ws client to open ${url}`,
    new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => {
        ws.off('error', reject);
        ws.on('error', () => {}); // failures are asserted through close codes
        resolve(ws);
      });
      ws.once('error', reject);
    }),
  );
}

export interface HttpRefusal {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Try a ws handshake the server is expected to refuse; resolves with the HTTP answer. */
export function refusalOf(
  url: string,
  options: WebSocket.ClientOptions = {},
  protocols?: string[],
): Promise<HttpRefusal> {
  const ws = new WebSocket(url, protocols, options);
  return within(
    5000,
    `the server to refuse ${url}`,
    new Promise<HttpRefusal>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          ws.terminate();
        });
        res.on('error', reject);
      });
      ws.on('open', () => {
        ws.terminate();
        reject(new Error('the handshake succeeded; a refusal was expected'));
      });
      ws.on('error', (error) => reject(error));
    }),
  );
}

export interface Closed {
  code: number;
  reason: string;
}

export function closeOfWs(ws: WebSocket, ms = 5000): Promise<Closed> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('the ws client is already closed'));
  return within(
    ms,
    'the ws client to close',
    new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    ),
  );
}

export function nextWsMessage(ws: WebSocket, ms = 10_000): Promise<{ data: Buffer; isBinary: boolean }> {
  return within(
    ms,
    'a message on the ws client',
    new Promise((resolve) =>
      ws.once('message', (data, isBinary) => resolve({ data: toBuffer(data), isBinary })),
    ),
  );
}

export function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

// Conduit connection -------------------------------------------------------------------------

export interface ConduitClosed {
  code: number;
  reason: string;
  wasClean: boolean;
}

export function closeOfConduit(conn: WebSocketConnection, ms = 5000): Promise<ConduitClosed> {
  return within(
    ms,
    'the Conduit connection to close',
    new Promise((resolve) =>
      conn.once('close', (code, reason, wasClean) => resolve({ code, reason, wasClean })),
    ),
  );
}

export function nextConduitMessage(
  conn: WebSocketConnection,
  ms = 10_000,
): Promise<{ data: Buffer; isBinary: boolean }> {
  return within(
    ms,
    'a message on the Conduit connection',
    new Promise((resolve) => conn.once('message', (data, isBinary) => resolve({ data, isBinary }))),
  );
}

// Raw TCP ------------------------------------------------------------------------------------

export interface RawExchange {
  /** Everything the server sent before closing. */
  response: string;
  /** Milliseconds from connect to the server closing the socket. */
  closedAfter: number;
}

/**
 * Write `bytes` on a raw TCP connection, then read until the server closes it (or `ms` passes, which
 * rejects: the server was expected to close).
 */
export function rawExchange(port: number, bytes: string | Buffer, ms: number): Promise<RawExchange> {
  return within(
    ms,
    'the server to close a raw TCP connection',
    new Promise<RawExchange>((resolve, reject) => {
      const started = Date.now();
      const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(bytes));
      let response = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        response += chunk;
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        // A reset after the answer still counts as the server closing the connection.
        if (error.code !== 'ECONNRESET') reject(error);
      });
      socket.on('close', () => resolve({ response, closedAfter: Date.now() - started }));
      setTimeout(() => socket.destroy(), ms + 100).unref();
    }),
  );
}

/** Write `bytes` on a raw TCP connection and resolve with the response head, then hang up. */
export function rawResponseHead(port: number, bytes: string | Buffer, ms: number): Promise<string> {
  return within(
    ms,
    'a response head on a raw TCP connection',
    new Promise<string>((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(bytes));
      let response = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        response += chunk;
        const end = response.indexOf('\r\n\r\n');
        if (end >= 0) {
          socket.destroy();
          resolve(response.slice(0, end + 4));
        }
      });
      socket.on('error', reject);
      socket.on('close', () =>
        reject(new Error(`closed before a complete head: ${JSON.stringify(response)}`)),
      );
      setTimeout(() => socket.destroy(), ms + 100).unref();
    }),
  );
}

/** The status line's code of a raw HTTP response. */
export function statusOf(response: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
  return match === null ? 0 : Number(match[1]);
}

/** A header's value in a raw HTTP response head (case-insensitive name), or undefined. */
export function headerOf(response: string, name: string): string | undefined {
  const head = response.split('\r\n\r\n')[0] ?? '';
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name.toLowerCase()) {
      return line.slice(colon + 1).trim();
    }
  }
  return undefined;
}

// A raw WebSocket peer, for what no library sends --------------------------------------------

/** A client frame (masked unless told otherwise), RFC 6455 section 5.2, payloads under 64 KiB. */
export function clientFrame(
  opcode: number,
  payload: Buffer,
  options: { fin?: boolean; mask?: boolean } = {},
): Buffer {
  const fin = options.fin ?? true;
  const mask = options.mask ?? true;
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : 2;
  const head = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (mask ? 0x80 : 0) | Math.min(length, 126);
  if (lengthBytes === 2) head.writeUInt16BE(length, 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  key.copy(head, 2 + lengthBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([head, body]);
}

export interface ServerFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Parse the (unmasked, complete) frames a server sent; a trailing partial frame is left out. */
export function parseFrames(bytes: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const b0 = bytes[at]!;
    const b1 = bytes[at + 1]!;
    let length = b1 & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      if (offset + 2 > bytes.length) break;
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (offset + 8 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(offset));
      offset += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) offset += 4;
    if (offset + length > bytes.length) break;
    frames.push({
      fin: (b0 & 0x80) !== 0,
      opcode: b0 & 0x0f,
      masked,
      payload: bytes.subarray(offset, offset + length),
    });
    at = offset + length;
  }
  return frames;
}

export interface RawPeer {
  readonly socket: Socket;
  /** The server's response head. */
  readonly head: string;
  /** Every byte the server sent after its response head, so far. */
  bytes(): Buffer;
  /** Resolves with the milliseconds from the 101 to the server closing the TCP connection. */
  readonly closed: Promise<number>;
}

const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/**
 * Complete an opening handshake over raw TCP, writing `extra` in the same write as the request (so a
 * frame can arrive together with the upgrade request). Resolves once the 101 head is in.
 */
export function openRawPeer(port: number, path = '/', extra: Buffer = Buffer.alloc(0)): Promise<RawPeer> {
  const request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  return within(
    5000,
    'a raw handshake',
    new Promise<RawPeer>((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port }, () =>
        socket.write(Buffer.concat([Buffer.from(request, 'latin1'), extra])),
      );
      let buffered = Buffer.alloc(0);
      let head: string | null = null;
      let openedAt = 0;
      let onClose: (ms: number) => void = () => {};
      const closed = new Promise<number>((r) => {
        onClose = r;
      });
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (head !== null) return;
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buffered.subarray(0, end + 4).toString('latin1');
        buffered = buffered.subarray(end + 4);
        openedAt = Date.now();
        const fixedHead = head;
        resolve({ socket, head: fixedHead, bytes: () => buffered, closed });
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (head === null) reject(error);
      });
      socket.on('close', () => {
        if (head === null) reject(new Error('closed before the 101'));
        onClose(Date.now() - openedAt);
      });
    }),
  );
}
