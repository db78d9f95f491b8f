/**
 * Cheap WebSocket (and plain HTTP/1.1) client connections for the scale scenarios, where one
 * load-generator process holds up to 10,000 of them. The request is built once per run (one random key for every connection, fine
 * for load generation: servers do not require keys to be unique) and every socket reads into one
 * shared buffer (`onread`), so a read allocates nothing: bytes after the handshake are handed to
 * `events.bytes` as a range of that buffer, valid only during the call.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A response head larger than this is not from a server under test. */
const MAX_HEAD = 16 * 1024;

/** Every socket reads into this; its contents are only valid inside the read callback. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** The one opening-handshake request a run sends on every connection, and its expected accept. */
export interface Handshake {
  port: number;
  request: Buffer;
  accept: string;
}

export function buildHandshake(
  port: number,
  path: string,
  extensions: string | null,
  protocol: string | null = null,
): Handshake {
  const key = randomBytes(16).toString('base64');
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${port}\r\n` +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${key}\r\n` +
      'Sec-WebSocket-Version: 13\r\n' +
      (extensions === null ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
      (protocol === null ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
      '\r\n',
    'latin1',
  );
  const accept = createHash('sha1')
    .update(key + GUID)
    .digest('base64');
  return { port, request, accept };
}

export interface Upgraded {
  socket: Socket;
  /** The response's Sec-WebSocket-Extensions, or null when it had none. */
  extensions: string | null;
}

/** What an open connection reports to its owner. */
export interface ConnectionEvents {
  /** Bytes received after the handshake: buffer[start, end) (a shared buffer: copy what you keep). */
  bytes(buffer: Buffer, start: number, end: number): void;
  /** The socket failed or closed after the handshake. */
  lost(error: Error): void;
}

function header(head: string, lowerHead: string, name: string): string | null {
  const at = lowerHead.indexOf(`\r\n${name}:`);
  if (at === -1) return null;
  const from = at + name.length + 3;
  const to = head.indexOf('\r\n', from);
  return head.slice(from, to === -1 ? head.length : to).trim();
}

/**
 * Connect to 127.0.0.1:port with Nagle off; every read lands in the shared READ_BUFFER and is handed
 * to `onRead(buffer, length)` (valid only during the call).
 */
export function connectReading(port: number, onRead: (buffer: Buffer, length: number) => void): Socket {
  return connect({
    host: '127.0.0.1',
    port,
    noDelay: true,
    onread: {
      buffer: READ_BUFFER,
      callback: (length: number): boolean => {
        onRead(READ_BUFFER, length);
        return true;
      },
    },
  });
}

/** Connect to 127.0.0.1 and complete the opening handshake; reject on refusal, bad accept or timeout. */
export async function openUpgraded(
  handshake: Handshake,
  timeoutMs: number,
  events: ConnectionEvents,
): Promise<Upgraded> {
  const { socket, value } = await openRequest(
    handshake.port,
    handshake.request,
    timeoutMs,
    events,
    (head) => {
      if (!head.startsWith('HTTP/1.1 101 ')) return new Error(`handshake refused: ${firstLine(head)}`);
      const lower = head.toLowerCase();
      const accept = header(head, lower, 'sec-websocket-accept');
      if (accept !== handshake.accept) return new Error(`bad Sec-WebSocket-Accept: ${accept}`);
      return header(head, lower, 'sec-websocket-extensions');
    },
  );
  return { socket, extensions: value };
}

function firstLine(head: string): string {
  const end = head.indexOf('\r\n');
  return end === -1 ? head : head.slice(0, end);
}

/**
 * Connect to 127.0.0.1, send an HTTP/1.1 request and read the response head; `check` turns the head
 * into a value, or an Error that fails the connection. The bytes after the head go to `events.bytes`.
 */
export function openRequest<T>(
  port: number,
  request: Buffer,
  timeoutMs: number,
  events: ConnectionEvents,
  check: (head: string) => T | Error,
): Promise<{ socket: Socket; value: T }> {
  return new Promise((resolve, reject) => {
    let pending: Buffer | null = null;
    let open = false;
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const onHeadBytes = (length: number): void => {
      // Copied: the shared buffer is overwritten by the next read of any socket.
      const chunk = Buffer.from(READ_BUFFER.subarray(0, length));
      pending = pending === null ? chunk : Buffer.concat([pending, chunk]);
      const end = pending.indexOf('\r\n\r\n');
      if (end === -1) {
        if (pending.length > MAX_HEAD) fail(new Error('response head too large'));
        return;
      }
      const value = check(pending.toString('latin1', 0, end + 2));
      if (value instanceof Error) {
        fail(value);
        return;
      }
      open = true;
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', events.lost);
      const rest = pending;
      pending = null;
      resolve({ socket, value });
      if (end + 4 < rest.length) events.bytes(rest, end + 4, rest.length);
    };
    const socket = connectReading(port, (buffer, length) => {
      if (open) events.bytes(buffer, 0, length);
      else onHeadBytes(length);
    });
    const timer = setTimeout(() => fail(new Error(`request to port ${port} timed out`)), timeoutMs);
    socket.on('error', fail);
    socket.on('close', () => {
      if (open) events.lost(new Error('a connection closed'));
      else fail(new Error('a connection closed before the response head'));
    });
    socket.once('connect', () => socket.write(request));
  });
}

/**
 * Run `open(i)` for i in [0, count) with at most `concurrency` in progress; resolves with the results
 * in order, rejects with the first failure.
 */
export async function openAll<T>(
  count: number,
  concurrency: number,
  open: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await open(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
