/**
 * The raw-TCP servers' stand-in for a WebSocket handshake: read the request head, answer a fixed 101
 * that differs from connection to connection only by its Sec-WebSocket-Accept (computed from the
 * key, so the load generator checks every server the same way), never any extension. No HTTP parser,
 * no validation beyond finding the key: what it costs is a socket, one read and one write, which is
 * what the ceiling is meant to show.
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_HEADER = /\r\nsec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*\r\n/i;
/** A request head larger than this is not one of the load generator's. */
const MAX_HEAD = 8192;

/**
 * Answer the upgrade request arriving on `socket`, then call `upgraded` with any bytes that followed
 * it. The socket is destroyed if the request is not one.
 */
export function acceptUpgrade(socket: Socket, upgraded: (head: Buffer) => void): void {
  let received: Buffer | null = null;
  const onData = (chunk: Buffer): void => {
    received = received === null ? chunk : Buffer.concat([received, chunk]);
    const end = received.indexOf('\r\n\r\n');
    if (end === -1) {
      if (received.length > MAX_HEAD) socket.destroy();
      return;
    }
    socket.off('data', onData);
    const key = KEY_HEADER.exec(received.toString('latin1', 0, end + 2))?.[1];
    if (key === undefined) {
      socket.destroy();
      return;
    }
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const head = received.subarray(end + 4);
    received = null;
    upgraded(head);
  };
  socket.on('data', onData);
}
