/**
 * The conformance peer: one end of a WebSocket connection that behaves like Autobahn|Testsuite's
 * fuzzing protocol (autobahn `WebSocketProtocol` + `FuzzingProtocol`). It sends whatever a case asks
 * for, valid or not, and keeps the books Autobahn keeps to judge the other end: the events received,
 * who started the closing handshake (`closedByMe`), whether the handshake completed and the server
 * closed TCP (`wasClean`), who dropped TCP (`droppedByMe`) and the close code received.
 *
 * Role 'client' tests a server (Autobahn's fuzzingclient), role 'server' tests a client (fuzzingserver).
 * The opening handshake is done by the caller; the peer starts with the bytes that followed it.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { CompressOptions, PeerDeflate } from './deflate.js';
import {
  applyMask,
  closePayload,
  type DecodedFrame,
  encodeFrame,
  FrameReader,
  type FrameSpec,
  frameHeader,
  newMaskKey,
  Opcode,
  toBytes,
} from './wire.js';

export type Role = 'client' | 'server';
export type PeerState = 'open' | 'closing' | 'closed';

export type PeerEvent =
  | { kind: 'message'; data: Buffer; binary: boolean }
  | { kind: 'ping'; data: Buffer }
  | { kind: 'pong'; data: Buffer }
  | { kind: 'timeout'; tag: string };

export interface ChopOptions {
  /** Write the frame in pieces of this many bytes, each its own TCP write (Autobahn `chopsize`). */
  chopsize?: number;
  /** Write the frame on its own, after giving the event loop a turn (Autobahn `sync`). */
  sync?: boolean;
}

export interface Timing {
  /** What Autobahn calls one second: killAfter, closeAfter and the closing-handshake timeouts. */
  second: number;
  /** The waits inside a case (`continueLater`): fail-fast probes of 6.4.x, the pause of 5.19/5.20. */
  pause: number;
}

export interface PeerHooks {
  /** `compressed`: the message came with RSV1 (permessage-deflate) and was inflated by the peer. */
  onMessage(data: Buffer, binary: boolean, compressed: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  onConnectionLost(): void;
}

/** Close codes an endpoint may send (RFC 6455 7.4.1, 1012-1014 from the IANA registry, 3000-4999). */
export function isValidWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Let the event loop run I/O (a poll phase) before continuing; two turns make sure of it. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

export class FuzzPeer {
  state: PeerState = 'open';
  /** We sent the first close frame (Autobahn `closedByMe`). */
  closedByMe = false;
  /** We closed or aborted the TCP connection ourselves (Autobahn `droppedByMe`). */
  droppedByMe = false;
  /** A close frame was received, and (client role) the server then closed TCP in time. */
  wasClean = false;
  wasNotCleanReason: string | null = null;
  closeReceived = false;
  localCloseCode: number | null = null;
  remoteCloseCode: number | null = null;
  remoteCloseReason: Buffer | null = null;
  /** The endpoint under test broke the protocol (our judgement, like Autobahn's protocolViolation). */
  violation: string | null = null;
  /** The endpoint under test closed TCP (FIN) before we ended our side. */
  peerEndedFirst = false;
  /** The endpoint under test closed its side of TCP with a FIN (not a reset). */
  peerSentFin = false;
  /** Socket errors seen (ECONNRESET, EPIPE): recorded, never thrown. */
  socketErrors: string[] = [];
  /**
   * permessage-deflate as negotiated in the opening handshake (set before `start`), or null: then RSV1
   * is a protocol violation as in RFC 6455, otherwise it marks the first frame of a compressed message.
   */
  deflate: PeerDeflate | null = null;
  /** Largest inflated message accepted from the endpoint (a bigger one is a violation). */
  maxInflated = 64 * 1024 * 1024;

  private readonly reader = new FrameReader();
  private readonly queue: Buffer[] = [];
  private draining = false;
  private weEnded = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closeHandshakeTimer: NodeJS.Timeout | null = null;
  private dropTimer: NodeJS.Timeout | null = null;
  private messageOpcode = 0;
  private messageCompressed = false;
  private messagePieces: Buffer[] = [];
  private frameMask: Buffer | null = null;
  private frameMaskOffset = 0;
  private lost = false;

  constructor(
    private readonly socket: Socket,
    readonly role: Role,
    private readonly hooks: PeerHooks,
    readonly timing: Timing,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.peerSentFin = true;
      if (!this.weEnded) this.peerEndedFirst = true;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => this.socketErrors.push(error.code ?? error.message));
    socket.on('close', () => this.connectionLost());
    socket.resume();
  }

  /** Bytes that arrived with the end of the opening handshake. */
  start(head: Buffer): void {
    if (head.length > 0) this.onData(head);
  }

  // Sending -----------------------------------------------------------------------------------

  /** Send one frame as given (any opcode, RSV bits, FIN), masked with a fresh key in the client role. */
  sendFrame(spec: FrameSpec & ChopOptions): void {
    const mask = this.role === 'client' ? newMaskKey() : null;
    this.sendData(encodeFrame(spec, mask), spec);
  }

  /**
   * Send a message the way Autobahn's sendMessage does: one frame, or fragments of `fragmentSize`
   * (with its quirk: a payload that is an exact multiple gets an empty final fragment).
   */
  sendMessage(payload: Uint8Array | string, binary: boolean, fragmentSize?: number, sync = false): void {
    const data = toBytes(payload);
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    if (fragmentSize === undefined || data.length <= fragmentSize) {
      this.sendFrame({ opcode, payload: data, sync });
      return;
    }
    let first = true;
    for (let i = 0; ; i += fragmentSize) {
      const j = i + fragmentSize;
      const done = j > data.length;
      this.sendFrame({
        opcode: first ? opcode : Opcode.Continuation,
        payload: data.subarray(i, done ? data.length : j),
        fin: done,
        sync,
      });
      first = false;
      if (done) return;
    }
  }

  /**
   * Send a message compressed with the negotiated permessage-deflate (RFC 7692 section 7.2.1), in one
   * frame or split into frames of `fragmentSize` compressed bytes (Autobahn's autoFragmentSize), RSV1
   * on the first frame only. `payload` may also be given already compressed (`raw`), byte for byte.
   */
  sendCompressedMessage(
    payload: Uint8Array | string,
    binary: boolean,
    options: CompressOptions & { fragmentSize?: number; raw?: boolean; sync?: boolean } = {},
  ): void {
    const data = toBytes(payload);
    let compressed: Buffer;
    if (options.raw === true) {
      compressed = data;
    } else {
      if (this.deflate === null) throw new Error('permessage-deflate was not negotiated');
      compressed = this.deflate.compress(data, options);
    }
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    const size = options.fragmentSize;
    if (size === undefined || size <= 0 || compressed.length <= size) {
      this.sendFrame({ opcode, payload: compressed, rsv: 4, sync: options.sync });
      return;
    }
    for (let i = 0; i < compressed.length; i += size) {
      const end = Math.min(compressed.length, i + size);
      this.sendFrame({
        opcode: i === 0 ? opcode : Opcode.Continuation,
        payload: compressed.subarray(i, end),
        fin: end === compressed.length,
        rsv: i === 0 ? 4 : 0,
        sync: options.sync,
      });
    }
  }

  /** Start the closing handshake with a valid code and reason (Autobahn `sendClose`). */
  sendClose(code?: number, reason?: string): void {
    this.sendCloseFrame(code, reason);
  }

  /**
   * Send a close frame with any code and reason bytes, valid or not, and enter CLOSING (Autobahn
   * `sendCloseFrame`; ignored unless OPEN). A raw close via sendFrame leaves the state alone.
   */
  sendCloseFrame(code?: number, reason?: Uint8Array | string, isReply = false): void {
    if (this.state !== 'open') return;
    this.sendFrame({ opcode: Opcode.Close, payload: closePayload(code, reason) });
    this.state = 'closing';
    this.closedByMe = !isReply;
    this.localCloseCode = code ?? null;
    if (this.closedByMe) {
      this.closeHandshakeTimer = this.later(this.timing.second, () => {
        if (this.state === 'closed' || this.closeReceived) return;
        this.wasClean = false;
        this.wasNotCleanReason = 'peer did not answer our close frame in time';
        this.dropConnection(true);
      });
    }
  }

  /**
   * Start a frame of `length` payload bytes, its payload to follow in pieces. Without FIN by default,
   * as Autobahn's beginMessageFrame (its endMessage then sends an empty final frame).
   */
  beginMessageFrame(opcode: number, length: number, fin = false): void {
    this.frameMask = this.role === 'client' ? newMaskKey() : null;
    this.frameMaskOffset = 0;
    this.sendData(frameHeader(opcode, length, { fin, mask: this.frameMask }), {});
  }

  sendMessageFrameData(data: Uint8Array | string): void {
    const bytes = Buffer.from(toBytes(data));
    if (this.frameMask !== null) applyMask(bytes, this.frameMask, this.frameMaskOffset);
    this.frameMaskOffset += bytes.length;
    this.sendData(bytes, {});
  }

  /** Finish a message begun with beginMessageFrame: an empty final continuation frame (as Autobahn). */
  endMessage(): void {
    this.sendFrame({ opcode: Opcode.Continuation, fin: true });
  }

  /**
   * Autobahn `sendData`: plain writes go straight out; chopped and synced writes are queued and each
   * written after the event loop had a turn, so the other end reads them separately.
   */
  private sendData(data: Buffer, options: ChopOptions): void {
    const chopsize = options.chopsize ?? 0;
    if (chopsize > 0) {
      for (let i = 0; i < data.length; i += chopsize) this.queue.push(data.subarray(i, i + chopsize));
      if (data.length === 0) this.queue.push(data);
      void this.drain();
    } else if (options.sync === true || this.queue.length > 0) {
      this.queue.push(data);
      void this.drain();
    } else {
      this.write(data);
    }
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    while (this.queue.length > 0) {
      const next = this.queue.shift()!;
      if (this.state !== 'closed') this.write(next);
      await yieldToLoop();
    }
    this.draining = false;
  }

  private write(data: Buffer): void {
    if (this.socket.destroyed || this.weEnded || this.lost) return;
    this.socket.write(data);
  }

  // Timers --------------------------------------------------------------------------------------

  /** Run `fn` after `ms`, then after the event loop has processed pending I/O; never after the end. */
  later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.lost) return;
      void yieldToLoop().then(() => {
        if (!this.lost) fn();
      });
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  /** Autobahn `killAfter`: fail the connection (drop TCP) unless it is closed by then. */
  killAfter(seconds: number): void {
    this.later(seconds * this.timing.second, () => {
      if (this.state === 'closed') return;
      this.wasClean = false;
      this.wasNotCleanReason = `connection still open after killAfter(${seconds})`;
      this.dropConnection(true);
    });
  }

  /** Autobahn `closeAfter`: start the closing handshake unless closed by then. */
  closeAfter(seconds: number): void {
    this.later(seconds * this.timing.second, () => {
      if (this.state !== 'closed') this.sendClose(1000);
    });
  }

  /** Drop the TCP connection: `abort` destroys it, otherwise it is ended after pending writes. */
  dropConnection(abort: boolean): void {
    if (this.state === 'closed') return;
    this.droppedByMe = true;
    this.state = 'closed';
    this.endSocket(abort);
  }

  private endSocket(abort: boolean): void {
    this.weEnded = true;
    if (abort) {
      this.socket.destroy();
      return;
    }
    this.socket.end();
    // A peer that never closes its side must not keep the case alive.
    const timer = setTimeout(() => this.socket.destroy(), this.timing.second);
    timer.unref();
  }

  // Receiving -----------------------------------------------------------------------------------

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private onData(chunk: Buffer): void {
    for (const frame of this.reader.push(chunk)) {
      // onFrame may close the connection; later frames in this chunk are then ignored.
      if (this.isClosed() || this.violation !== null) return;
      this.onFrame(frame);
    }
  }

  private onFrame(f: DecodedFrame): void {
    const problem = this.frameProblem(f);
    if (problem !== null) {
      this.protocolViolation(problem);
      return;
    }
    switch (f.opcode) {
      case Opcode.Close:
        this.onCloseFrame(f.payload);
        return;
      case Opcode.Ping:
        if (this.state === 'open') this.sendFrame({ opcode: Opcode.Pong, payload: f.payload });
        this.hooks.onPing(f.payload);
        return;
      case Opcode.Pong:
        this.hooks.onPong(f.payload);
        return;
    }
    if (f.opcode !== Opcode.Continuation) {
      this.messageOpcode = f.opcode;
      this.messageCompressed = (f.rsv & 4) !== 0;
      this.messagePieces = [];
    }
    this.messagePieces.push(f.payload);
    if (!f.fin) return;
    let data = this.messagePieces.length === 1 ? this.messagePieces[0]! : Buffer.concat(this.messagePieces);
    const binary = this.messageOpcode === Opcode.Binary;
    const compressed = this.messageCompressed;
    this.messageOpcode = 0;
    this.messageCompressed = false;
    this.messagePieces = [];
    if (compressed) {
      try {
        data = this.deflate!.inflate(data, this.maxInflated);
      } catch (error) {
        this.protocolViolation((error as Error).message, 1007);
        return;
      }
    } else if (this.deflate !== null) {
      this.deflate.stats.receivedPlain++;
    }
    if (!binary && !isUtf8(data)) {
      this.protocolViolation(`${compressed ? 'compressed ' : ''}text message that is not valid UTF-8`, 1007);
      return;
    }
    this.hooks.onMessage(data, binary, compressed);
  }

  /** What is wrong with a frame from the endpoint under test (Autobahn's checks), or null. */
  private frameProblem(f: DecodedFrame): string | null {
    // RFC 6455 5.5.1: after its close frame, an endpoint sends nothing more.
    if (this.closeReceived) return `frame with opcode ${f.opcode} after the close frame`;
    if (this.role === 'client' && f.masked) return 'masked server-to-client frame';
    if (this.role === 'server' && !f.masked) return 'unmasked client-to-server frame';
    if (f.rsv !== 0) {
      if (this.deflate === null) return `RSV = ${f.rsv} and no extension negotiated`;
      if ((f.rsv & 3) !== 0) return `RSV = ${f.rsv}: only RSV1 is negotiated (permessage-deflate)`;
      // RFC 7692 section 6: RSV1 marks the first frame of a compressed data message, nothing else.
      if (f.opcode >= 8) return 'RSV1 set on a control frame (RFC 7692 section 6)';
      if (f.opcode === Opcode.Continuation) return 'RSV1 set on a continuation frame (RFC 7692 section 6)';
    }
    if (f.opcode >= 8) {
      if (!f.fin) return 'fragmented control frame';
      if (f.payload.length > 125) return 'control frame with payload over 125 bytes';
      if (f.opcode !== Opcode.Close && f.opcode !== Opcode.Ping && f.opcode !== Opcode.Pong) {
        return `reserved control opcode ${f.opcode}`;
      }
      return null;
    }
    if (f.opcode === Opcode.Continuation) {
      return this.messageOpcode === 0 ? 'continuation frame without a message' : null;
    }
    if (f.opcode !== Opcode.Text && f.opcode !== Opcode.Binary) return `reserved data opcode ${f.opcode}`;
    return this.messageOpcode !== 0 ? 'new message inside a fragmented one' : null;
  }

  private onCloseFrame(payload: Buffer): void {
    const problem = closeProblem(payload);
    if (problem !== null) {
      this.protocolViolation(problem.reason, problem.code);
      return;
    }
    this.closeReceived = true;
    this.remoteCloseCode = payload.length >= 2 ? payload.readUInt16BE(0) : null;
    this.remoteCloseReason = payload.length >= 2 ? payload.subarray(2) : null;
    this.wasClean = true;
    if (this.closeHandshakeTimer !== null) {
      clearTimeout(this.closeHandshakeTimer);
      this.timers.delete(this.closeHandshakeTimer);
      this.closeHandshakeTimer = null;
    }
    if (this.state === 'open') {
      // The peer started the closing handshake: answer (Autobahn answers 1000, not an echo).
      this.sendCloseFrame(1000, undefined, true);
    }
    if (this.role === 'server') {
      // RFC 6455 7.1.1: the server closes TCP first. Give the client a moment first, so a client that
      // sends its FIN right behind its close frame (instead of waiting for ours) shows as peerEndedFirst.
      this.state = 'closed';
      void yieldToLoop().then(() => {
        if (!this.lost) this.endSocket(false);
      });
      return;
    }
    // The client waits for the server to close TCP, but not forever.
    this.dropTimer = this.later(this.timing.second, () => {
      if (this.isClosed()) return;
      this.wasClean = false;
      this.wasNotCleanReason = 'server did not drop the TCP connection in time after the closing handshake';
      this.dropConnection(true);
    });
  }

  private protocolViolation(reason: string, code = 1002): void {
    if (this.violation !== null || this.state === 'closed') return;
    this.violation = reason;
    this.wasClean = false;
    this.wasNotCleanReason = `endpoint under test broke the protocol: ${reason}`;
    if (this.state === 'open') {
      this.sendFrame({ opcode: Opcode.Close, payload: closePayload(code) });
      this.closedByMe = true;
    }
    this.dropConnection(true);
  }

  private connectionLost(): void {
    if (this.lost) return;
    this.lost = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.dropTimer !== null) clearTimeout(this.dropTimer);
    if (this.state !== 'closed') {
      this.state = 'closed';
      if (!this.closeReceived) {
        this.wasClean = false;
        this.wasNotCleanReason ??= 'peer dropped the TCP connection without a closing handshake';
      }
    }
    this.hooks.onConnectionLost();
  }
}

/** What is wrong with a close frame's payload (Autobahn's checks), or null. */
function closeProblem(payload: Buffer): { reason: string; code: number } | null {
  if (payload.length === 1) return { reason: 'close frame with a 1-byte payload', code: 1002 };
  if (payload.length < 2) return null;
  const code = payload.readUInt16BE(0);
  if (!isValidWireCloseCode(code)) return { reason: `invalid close code ${code}`, code: 1002 };
  if (!isUtf8(payload.subarray(2))) return { reason: 'close reason that is not valid UTF-8', code: 1007 };
  return null;
}
