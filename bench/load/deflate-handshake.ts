/**
 * Opening a load-generator connection that negotiates permessage-deflate (RFC 7692). The offer is the
 * one a browser-like client without context takeover sends:
 *
 *   Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_max_window_bits
 *
 * client_no_context_takeover is what makes pre-compressed, stateless payloads valid. The 101 response
 * must accept permessage-deflate, or the benchmark would silently measure uncompressed traffic: that
 * fails loudly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const DEFLATE_OFFER = 'permessage-deflate; client_no_context_takeover; client_max_window_bits';

/** What the server's response agreed to, as far as the load generator cares. */
export interface DeflateResponse {
  /** The raw Sec-WebSocket-Extensions value of the 101 response. */
  header: string;
  serverNoContextTakeover: boolean;
  /** The window the server allows our compressor (15 if not limited). */
  clientMaxWindowBits: number;
}

export interface DeflateConnection {
  socket: Socket;
  /** Bytes that arrived after the response head (normally none). */
  head: Buffer;
  deflate: DeflateResponse;
}

export class HandshakeFailure extends Error {
  override readonly name = 'HandshakeFailure';
}

/** Parse the accepted permessage-deflate parameters; throws if the response did not accept it. */
export function parseDeflateResponse(header: string | undefined): DeflateResponse {
  if (header === undefined) {
    throw new HandshakeFailure(
      'the 101 response has no Sec-WebSocket-Extensions: permessage-deflate was refused',
    );
  }
  const [name, ...params] = header.split(';').map((p) => p.trim());
  if (name !== 'permessage-deflate') {
    throw new HandshakeFailure(`the server accepted "${header}" instead of permessage-deflate`);
  }
  let serverNoContextTakeover = false;
  let clientMaxWindowBits = 15;
  for (const param of params) {
    const [key, value] = param.split('=').map((p) => p.trim());
    if (key === 'server_no_context_takeover') serverNoContextTakeover = true;
    else if (key === 'client_max_window_bits' && value !== undefined) {
      clientMaxWindowBits = Number(value.replace(/"/g, ''));
      // zlib cannot compress with an 8-bit window; our stateless payloads need 9 or more.
      if (!(clientMaxWindowBits >= 9 && clientMaxWindowBits <= 15)) {
        throw new HandshakeFailure(`unusable client_max_window_bits in "${header}"`);
      }
    }
  }
  return { header, serverNoContextTakeover, clientMaxWindowBits };
}

/** Connect to 127.0.0.1:port and perform an opening handshake on `path` offering permessage-deflate. */
export function openDeflateConnection(
  port: number,
  path: string,
  timeoutMs: number,
): Promise<DeflateConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const timer = setTimeout(
      () => fail(new HandshakeFailure(`handshake on port ${port} timed out`)),
      timeoutMs,
    );
    const key = randomBytes(16).toString('base64');
    let received = Buffer.alloc(0);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        if (received.length > 16384) fail(new HandshakeFailure('handshake response head too large'));
        return;
      }
      const lines = received.subarray(0, end).toString('latin1').split('\r\n');
      if (!/^HTTP\/1\.1 101 /.test(lines[0] ?? '')) {
        fail(new HandshakeFailure(`handshake refused: ${lines[0]}`));
        return;
      }
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const expected = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      if (headers.get('sec-websocket-accept') !== expected) {
        fail(new HandshakeFailure(`bad Sec-WebSocket-Accept: ${headers.get('sec-websocket-accept')}`));
        return;
      }
      let deflate: DeflateResponse;
      try {
        deflate = parseDeflateResponse(headers.get('sec-websocket-extensions'));
      } catch (error) {
        fail(error as Error);
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      resolve({ socket, head: received.subarray(end + 4), deflate });
    };
    socket.on('error', fail);
    socket.once('connect', () => {
      socket.on('data', onData);
      socket.write(
        `GET ${path} HTTP/1.1\r\n` +
          `Host: 127.0.0.1:${port}\r\n` +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${key}\r\n` +
          'Sec-WebSocket-Version: 13\r\n' +
          `Sec-WebSocket-Extensions: ${DEFLATE_OFFER}\r\n\r\n`,
      );
    });
  });
}
