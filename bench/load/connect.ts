/** Opening a load-generator connection: TCP connect and, for WebSocket servers, the opening handshake. */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface OpenConnection {
  socket: Socket;
  /** Bytes that arrived after the handshake response (normally none). */
  head: Buffer;
}

/** Connect to 127.0.0.1:port; with `path`, perform a WebSocket opening handshake on it. */
export function openConnection(
  port: number,
  path: string | null,
  timeoutMs: number,
): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const timer = setTimeout(() => fail(new Error(`connection to port ${port} timed out`)), timeoutMs);
    let received = Buffer.alloc(0);
    const key = randomBytes(16).toString('base64');
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const done = (head: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      resolve({ socket, head });
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        if (received.length > 16384) fail(new Error('handshake response head too large'));
        return;
      }
      const head = received.subarray(0, end).toString('latin1');
      const lines = head.split('\r\n');
      if (!/^HTTP\/1\.1 101 /.test(lines[0] ?? '')) {
        fail(new Error(`handshake refused: ${lines[0]}`));
        return;
      }
      const expected = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      const accept = lines
        .slice(1)
        .map((line) => line.split(':'))
        .find(([name]) => name?.trim().toLowerCase() === 'sec-websocket-accept')?.[1]
        ?.trim();
      if (accept !== expected) {
        fail(new Error(`bad Sec-WebSocket-Accept: ${accept}`));
        return;
      }
      done(received.subarray(end + 4));
    };
    socket.on('error', fail);
    socket.once('connect', () => {
      if (path === null) {
        done(Buffer.alloc(0));
        return;
      }
      socket.on('data', onData);
      socket.write(
        `GET ${path} HTTP/1.1\r\n` +
          `Host: 127.0.0.1:${port}\r\n` +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${key}\r\n` +
          'Sec-WebSocket-Version: 13\r\n\r\n',
      );
    });
  });
}
