/**
 * Subscribers that speak an application protocol over WebSocket, for the hub fan-out scenario: the
 * Conduit hub protocol (conduit.v1: subscribe, answer pings) or Socket.IO's (Engine.IO v4 over a
 * WebSocket: open packet, namespace connect, answer pings). They count the event messages, hand the
 * timestamp of a sampled subscriber's events to `stamp`, and answer the control messages, like a real
 * client would, at the cost of looking at every message's first bytes (no string per event).
 */
import type { Socket } from 'node:net';
import { buildClientFrame, UnexpectedFrameError } from './frames.js';

/** Largest payload a subscriber expects (events are ~64 characters plus the protocol's envelope). */
const MAX_PAYLOAD = 4096;
const OPCODE_TEXT = 0x1;

export type AppProtocol = 'hub' | 'socket.io';

interface ProtocolRules {
  path: string;
  subprotocol: string | null;
  /** Bytes an event message starts with. */
  event: Buffer;
  /** What precedes the stamp in an event message. */
  stampMarker: Buffer;
  /** A control message came (text): answer it, and say whether the subscriber is now ready. */
  control(text: string, send: (text: string) => void): boolean;
  /** Sent right after the handshake, if anything. */
  greeting: string | null;
}

export const APP_PROTOCOLS: Record<AppProtocol, ProtocolRules> = {
  hub: {
    path: '/ws',
    subprotocol: 'conduit.v1',
    event: Buffer.from('{"type":"message"'),
    stampMarker: Buffer.from('"data":"'),
    greeting: '{"type":"subscribe","id":1,"channel":"bench"}',
    control(text, send) {
      if (text === '{"type":"ping"}') send('{"type":"pong"}');
      return text.startsWith('{"type":"subscribed"');
    },
  },
  'socket.io': {
    path: '/socket.io/?EIO=4&transport=websocket',
    subprotocol: null,
    event: Buffer.from('42["tick",'),
    stampMarker: Buffer.from('42["tick","'),
    greeting: null,
    control(text, send) {
      if (text.startsWith('0{')) send('40');
      else if (text === '2') send('3');
      return text.startsWith('40{');
    },
  },
};

export class AppSubscriber {
  events = 0;
  private readonly payload = Buffer.allocUnsafe(MAX_PAYLOAD);
  private readonly header = Buffer.alloc(10);
  private headerHave = 0;
  private headerNeed = 2;
  private need = 0;
  private have = 0;
  private inPayload = false;
  private readyResolve: (() => void) | null = null;
  readonly ready: Promise<void>;

  constructor(
    private readonly rules: ProtocolRules,
    private readonly sampled: boolean,
    private readonly stamp: (text: string) => void,
  ) {
    this.ready = new Promise((resolve) => {
      this.readyResolve = resolve;
    });
  }

  /** Called with the socket once the handshake is done (answers due before it go then). */
  start(socket: Socket): void {
    this.socket = socket;
    if (this.rules.greeting !== null) this.send(this.rules.greeting);
    for (const text of this.early.splice(0)) this.send(text);
  }

  private socket: Socket | null = null;
  private readonly early: string[] = [];

  private send(text: string): void {
    if (this.socket === null) this.early.push(text);
    else this.socket.write(buildClientFrame(Buffer.from(text), OPCODE_TEXT));
  }

  push(buffer: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end) {
      if (this.inPayload) {
        const take = Math.min(end - i, this.need - this.have);
        buffer.copy(this.payload, this.have, i, i + take);
        this.have += take;
        i += take;
        if (this.have === this.need) {
          this.inPayload = false;
          this.message(this.have);
        }
        continue;
      }
      this.header[this.headerHave++] = buffer[i++]!;
      if (this.headerHave === 2) {
        const b0 = this.header[0]!;
        const b1 = this.header[1]!;
        if ((b0 & 0x80) === 0 || (b1 & 0x80) !== 0) {
          throw new UnexpectedFrameError(`unexpected frame: 0x${b0.toString(16)} 0x${b1.toString(16)}`);
        }
        const len7 = b1 & 0x7f;
        this.headerNeed = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      }
      if (this.headerHave < this.headerNeed) continue;
      const len7 = this.header[1]! & 0x7f;
      const length =
        len7 === 126 ? this.header.readUInt16BE(2) : len7 === 127 ? Number.POSITIVE_INFINITY : len7;
      if (length > MAX_PAYLOAD) throw new UnexpectedFrameError(`a ${length}-byte message`);
      const opcode = this.header[0]! & 0x0f;
      this.headerHave = 0;
      this.headerNeed = 2;
      if (opcode !== OPCODE_TEXT) {
        // Close or ping/pong of the WebSocket layer: not expected in a measured run.
        if (opcode >= 0x8 && opcode !== 0x9 && opcode !== 0xa)
          throw new UnexpectedFrameError(`opcode ${opcode}`);
      }
      this.need = length;
      this.have = 0;
      if (length === 0) this.message(0);
      else this.inPayload = true;
    }
  }

  private message(length: number): void {
    const event = this.rules.event;
    if (length >= event.length && this.payload.compare(event, 0, event.length, 0, event.length) === 0) {
      this.events++;
      if (this.sampled) {
        const at = this.payload.subarray(0, length).indexOf(this.rules.stampMarker);
        if (at >= 0) {
          const from = at + this.rules.stampMarker.length;
          this.stamp(this.payload.toString('latin1', from, from + 16));
        }
      }
      return;
    }
    const text = this.payload.toString('utf8', 0, length);
    if (this.rules.control(text, (t) => this.send(t)) && this.readyResolve !== null) {
      this.readyResolve();
      this.readyResolve = null;
    }
  }
}
