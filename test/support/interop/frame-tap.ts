/**
 * A transparent TCP proxy for the interop tests that reads the WebSocket traffic it forwards: the
 * request and response heads, then the header of every frame in each direction (FIN, RSV bits,
 * opcode, length). Two libraries talking through it do not know it is there, and a test can check
 * what really crossed the wire: that compressed messages carried RSV1, that continuation frames did
 * not, which extension the 101 answered.
 *
 * Payloads are not kept (a 1 MiB message costs nothing here), except for control frames, whose
 * (unmasked) payload is kept so a close code can be read.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { within } from './peers.js';

export interface TappedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  length: number;
  /** The unmasked payload of a control frame (opcode >= 8); empty for data frames. */
  control: Buffer;
}

/** One side of a tapped connection: its HTTP head, then its frames, read incrementally. */
class StreamReader {
  head: string | null = null;
  readonly frames: TappedFrame[] = [];
  private pending: Buffer = Buffer.alloc(0);
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  /** The control frame whose payload is being collected. */
  private collecting: { frame: TappedFrame; mask: Buffer | null; parts: Buffer[]; left: number } | null =
    null;

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.head === null) {
      this.pending = Buffer.concat([this.pending, data]);
      const end = this.pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.pending.subarray(0, end + 4).toString('latin1');
      data = this.pending.subarray(end + 4);
      this.pending = Buffer.alloc(0);
    }
    while (data.length > 0) {
      if (this.collecting !== null) {
        const take = Math.min(this.collecting.left, data.length);
        this.collecting.parts.push(data.subarray(0, take));
        this.collecting.left -= take;
        data = data.subarray(take);
        if (this.collecting.left === 0) this.finishControl();
        continue;
      }
      if (this.skip > 0) {
        const take = Math.min(this.skip, data.length);
        this.skip -= take;
        data = data.subarray(take);
        continue;
      }
      this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
      data = Buffer.alloc(0);
      const rest = this.readHeader();
      if (rest === null) return; // the header is incomplete: wait for more bytes
      this.pending = Buffer.alloc(0);
      data = rest;
    }
  }

  /** Parse one frame header from `pending`; returns the bytes after it, or null if incomplete. */
  private readHeader(): Buffer | null {
    const b = this.pending;
    if (b.length < 2) return null;
    const masked = (b[1]! & 0x80) !== 0;
    let length = b[1]! & 0x7f;
    let at = 2;
    if (length === 126) {
      if (b.length < 4) return null;
      length = b.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      if (b.length < 10) return null;
      length = b.readUInt32BE(2) * 2 ** 32 + b.readUInt32BE(6);
      at = 10;
    }
    if (b.length < at + (masked ? 4 : 0)) return null;
    const mask = masked ? Buffer.from(b.subarray(at, at + 4)) : null;
    at += masked ? 4 : 0;
    const frame: TappedFrame = {
      fin: (b[0]! & 0x80) !== 0,
      rsv1: (b[0]! & 0x40) !== 0,
      rsv2: (b[0]! & 0x20) !== 0,
      rsv3: (b[0]! & 0x10) !== 0,
      opcode: b[0]! & 0x0f,
      masked,
      length,
      control: Buffer.alloc(0),
    };
    this.frames.push(frame);
    if (frame.opcode >= 8 && length > 0) {
      this.collecting = { frame, mask, parts: [], left: length };
    } else {
      this.skip = length;
    }
    return b.subarray(at);
  }

  private finishControl(): void {
    const c = this.collecting!;
    this.collecting = null;
    const payload = Buffer.concat(c.parts);
    if (c.mask !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= c.mask[i & 3]!;
    c.frame.control = payload;
  }
}

export interface TappedConnection {
  /** The client's request head, once it arrived. */
  readonly requestHead: string | null;
  /** The server's response head, once it arrived. */
  readonly responseHead: string | null;
  /** Frames from the client to the server, in order. */
  readonly toServer: readonly TappedFrame[];
  /** Frames from the server to the client, in order. */
  readonly toClient: readonly TappedFrame[];
}

export interface FrameTap {
  readonly port: number;
  /** ws://127.0.0.1:PORT */
  readonly url: string;
  /** Every connection through the tap, in order of arrival. */
  readonly connections: readonly TappedConnection[];
  /** The most recent connection (throws when there is none yet). */
  last(): TappedConnection;
  close(): Promise<void>;
}

/** A header's value in an HTTP head (case-insensitive name), or undefined. */
export function headerIn(head: string | null, name: string): string | undefined {
  if (head === null) return undefined;
  const wanted = name.toLowerCase();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted)
      return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** Data frames only (text, binary, continuation), leaving out pings, pongs and close frames. */
export function dataFrames(frames: readonly TappedFrame[]): TappedFrame[] {
  return frames.filter((f) => f.opcode < 8);
}

/** Listen on an ephemeral port of 127.0.0.1 and forward every connection to 127.0.0.1:`targetPort`. */
export async function listenTap(targetPort: number): Promise<FrameTap> {
  const sockets = new Set<Socket>();
  const connections: Array<{ up: StreamReader; down: StreamReader }> = [];
  const server: Server = createServer((client) => {
    const up = new StreamReader();
    const down = new StreamReader();
    connections.push({ up, down });
    const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // Forward as-is (pipe keeps backpressure), reading a copy of every chunk on the way.
    client.on('data', (chunk: Buffer) => up.push(chunk));
    upstream.on('data', (chunk: Buffer) => down.push(chunk));
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', () => {
      sockets.delete(client);
      upstream.end();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.end();
    });
  });
  await within(
    5000,
    'the frame tap to listen',
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    }),
  );
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const view = (c: { up: StreamReader; down: StreamReader }): TappedConnection => ({
    get requestHead() {
      return c.up.head;
    },
    get responseHead() {
      return c.down.head;
    },
    toServer: c.up.frames,
    toClient: c.down.frames,
  });
  return {
    port: address.port,
    url: `ws://127.0.0.1:${address.port}`,
    get connections() {
      return connections.map(view);
    },
    last() {
      const c = connections[connections.length - 1];
      if (c === undefined) throw new Error('no connection went through the tap');
      return view(c);
    },
    close: () =>
      within(
        5000,
        'the frame tap to close',
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
      ),
  };
}
