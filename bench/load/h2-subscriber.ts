/**
 * A minimal HTTP/2 client for the fan-out load generator (cleartext, prior knowledge, RFC 9113): one
 * GET on stream 1 per connection, then only the DATA of that stream, handed to `events.bytes`. It is
 * cheap enough for one process to hold 5,000 subscribers that read as fast as the server writes, which
 * node:http2's client is not (it costs the generator more per event than the server spends sending).
 *
 * What it does, no more: the connection preface with SETTINGS (largest stream window, no push), a
 * WINDOW_UPDATE that opens the connection window as wide as it goes (2^31-1: no further update is ever
 * needed in a bench run), the request as HPACK literals without indexing, SETTINGS and PING answered
 * with their ACK. The response must start with `:status: 200` as the indexed static entry (0x88, which
 * is how every HPACK encoder sends it); padded DATA, a second HEADERS, RST_STREAM or GOAWAY end the
 * connection as a failure.
 */
import type { Socket } from 'node:net';
import { type ConnectionEvents, connectReading } from './upgrade.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const MAX_WINDOW = 0x7fffffff;
const DEFAULT_WINDOW = 65_535;

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(FRAME_HEADER + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream, 5);
  payload.copy(out, FRAME_HEADER);
  return out;
}

/** An HPACK literal without indexing, its name the static table's entry `index` (< 15), value < 127. */
function literal(index: number, value: string): Buffer {
  const bytes = Buffer.from(value, 'latin1');
  if (index >= 15 || bytes.length >= 127) throw new RangeError('header too long for this encoder');
  return Buffer.concat([Buffer.from([index, bytes.length]), bytes]);
}

/** The bytes a subscriber sends first: preface, SETTINGS, connection WINDOW_UPDATE, the GET. */
export function h2Request(port: number, path: string): Buffer {
  const settings = Buffer.alloc(12);
  settings.writeUInt16BE(0x2, 0); // SETTINGS_ENABLE_PUSH
  settings.writeUInt32BE(0, 2);
  settings.writeUInt16BE(0x4, 6); // SETTINGS_INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(MAX_WINDOW, 8);
  const increment = Buffer.alloc(4);
  increment.writeUInt32BE(MAX_WINDOW - DEFAULT_WINDOW, 0);
  const block = Buffer.concat([
    Buffer.from([0x82, 0x86]), // :method GET, :scheme http (indexed static entries 2 and 6)
    literal(4, path), // :path
    literal(1, `127.0.0.1:${port}`), // :authority
  ]);
  return Buffer.concat([
    PREFACE,
    frame(SETTINGS, 0, 0, settings),
    frame(WINDOW_UPDATE, 0, 0, increment),
    frame(HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1, block),
  ]);
}

/** Open one subscriber; resolves once the 200 response's HEADERS arrived. */
export function openH2Subscriber(
  port: number,
  request: Buffer,
  timeoutMs: number,
  events: ConnectionEvents,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let open = false;
    /** The frame header being read (it may be cut by a read). */
    const header = Buffer.alloc(FRAME_HEADER);
    let headerBytes = 0;
    /** What is left of the current frame's payload, its type and flags. */
    let left = 0;
    let type = 0;
    let flags = 0;
    /** Payload of a non-DATA frame, gathered (they are small). */
    let control: Buffer[] = [];

    const failed = (error: Error): void => {
      if (open) {
        events.lost(error);
        socket.destroy();
      } else {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      }
    };

    const onControl = (payload: Buffer, stream: number): void => {
      if (type === SETTINGS && (flags & FLAG_ACK) === 0)
        socket.write(frame(SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
      else if (type === PING && (flags & FLAG_ACK) === 0) socket.write(frame(PING, FLAG_ACK, 0, payload));
      else if (type === HEADERS && stream === 1) {
        if (open) failed(new Error('a second HEADERS frame on the SSE stream'));
        else if (payload[(flags & FLAG_PADDED) !== 0 ? 1 : 0] !== 0x88) {
          failed(new Error('the response does not start with :status 200'));
        } else {
          open = true;
          clearTimeout(timer);
          resolve(socket);
        }
      } else if (type === RST_STREAM || type === GOAWAY) {
        failed(new Error(`the server sent ${type === GOAWAY ? 'GOAWAY' : 'RST_STREAM'}`));
      } else if (type === CONTINUATION) {
        failed(new Error('unexpected CONTINUATION'));
      }
    };

    const onBytes = (buffer: Buffer, start: number, end: number): void => {
      let at = start;
      while (at < end) {
        if (left === 0 && headerBytes < FRAME_HEADER) {
          const n = Math.min(FRAME_HEADER - headerBytes, end - at);
          buffer.copy(header, headerBytes, at, at + n);
          headerBytes += n;
          at += n;
          if (headerBytes < FRAME_HEADER) return;
          left = header.readUIntBE(0, 3);
          type = header[3]!;
          flags = header[4]!;
          if (type === DATA && (flags & FLAG_PADDED) !== 0) {
            failed(new Error('padded DATA'));
            return;
          }
          if (left === 0) {
            headerBytes = 0;
            if (type !== DATA) onControl(Buffer.alloc(0), header.readUInt32BE(5) & MAX_WINDOW);
            continue;
          }
        }
        const n = Math.min(left, end - at);
        if (type === DATA) events.bytes(buffer, at, at + n);
        else control.push(Buffer.from(buffer.subarray(at, at + n)));
        left -= n;
        at += n;
        if (left === 0) {
          headerBytes = 0;
          if (type !== DATA) {
            const payload = Buffer.concat(control);
            control = [];
            onControl(payload, header.readUInt32BE(5) & MAX_WINDOW);
          }
        }
      }
    };

    const socket = connectReading(port, (buffer, length) => onBytes(buffer, 0, length));
    const timer = setTimeout(() => failed(new Error(`HTTP/2 request to port ${port} timed out`)), timeoutMs);
    socket.on('error', failed);
    socket.on('close', () => failed(new Error('an HTTP/2 connection closed')));
    socket.once('connect', () => socket.write(request));
  });
}
