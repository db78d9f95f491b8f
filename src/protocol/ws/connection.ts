/**
 * The WebSocket connection core (RFC 6455 sections 5-7), sans-I/O: bytes in through `receiveData`,
 * events out through a handler; calls in (`send`, `ping`, `close`), bytes out through the same handler.
 * No sockets, timers or promises: the adapter owns those and tells the core when the transport ends.
 *
 * One state field, `readyState`, with the four states of the WebSocket API; the close handshake is
 * tracked by what was sent and received, never by scattered booleans.
 */
import { unmaskInPlace } from '../../util/mask.js';
import { isValidUtf8, Utf8Validator } from '../../util/utf8.js';
import { ProtocolError } from '../errors.js';
import { type AssemblyBudget, BudgetExceededError, MessageAssembly } from './assembly.js';
import { CloseCode, isValidApplicationCloseCode, isValidWireCloseCode } from './close-codes.js';
import { type FrameHeader, FrameParser, type FrameSink } from './frame-parser.js';
import { encodeClosePayload, serializeFrame } from './frame-writer.js';
import { isKnownOpcode, Opcode } from './opcodes.js';

export type Role = 'client' | 'server';

export const enum ReadyState {
  Connecting = 0,
  Open = 1,
  Closing = 2,
  Closed = 3,
}

export interface FrameInfo extends FrameHeader {
  readonly direction: 'in' | 'out';
}

export interface ConnectionHandler {
  /** A complete message. `compressed` when its first frame had RSV1 (an extension must decode it). */
  onMessage(data: Buffer, isText: boolean, compressed: boolean): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** The peer's close frame arrived (code 1005 when it carried none). */
  onCloseFrame(code: number, reason: string): void;
  /** Bytes to write to the transport, in order. */
  onWrite(chunks: Buffer[]): void;
  /** The transport should now be closed (after the close handshake, or after failing). */
  onEnd(): void;
  /** The peer broke the protocol; the connection is being failed with `error.closeCode`. */
  onProtocolError(error: ProtocolError): void;
}

export interface ConnectionOptions {
  role: Role;
  /** Largest message accepted, in bytes, checked as each frame header arrives. Default 16 MiB. */
  maxPayload?: number;
  /**
   * Frames one message may span: this many, plus one for every 64 bytes of its payload
   * (BYTES_PER_EXTRA_FRAGMENT); past it the connection fails with 1008 (WS_ERR_TOO_MANY_FRAGMENTS).
   * A fragment costs only its bytes (the message is assembled as it arrives), so this bounds the work
   * a peer can cause per byte with tiny fragments (6 bytes of header for a 1-byte payload), not
   * memory. Default 16,384: 1-byte fragments fail at about 16,600; Autobahn's 4 MiB in 64-byte
   * fragments (65,537 frames) passes.
   */
  maxFragments?: number;
  /**
   * Memory shared by the messages being received on many connections (a server's): past it, the
   * connection whose message would grow fails with 1013 (try again later). Default: none.
   */
  budget?: AssemblyBudget;
  /** Source of 4-byte masking keys; required for the client role (inject crypto randomness). */
  generateMask?: () => Uint8Array;
  /** An extension negotiated the RSV1 bit (permessage-deflate): allowed on a message's first frame. */
  allowRsv1?: boolean;
  /** Answer pings with a pong automatically (RFC 6455 section 5.5.2). Default true. */
  autoPong?: boolean;
  /** Observe every frame read or written (frame inspectors, `conduit connect --show-frames`). */
  onFrame?: (frame: FrameInfo) => void;
}

export class LocalStateError extends Error {
  override readonly name = 'InvalidStateError';
  readonly code = 'WS_ERR_NOT_OPEN';
}

export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;
export const DEFAULT_MAX_FRAGMENTS = 16_384;
/** A message may span one more fragment than maxFragments for every this many bytes of payload. */
export const BYTES_PER_EXTRA_FRAGMENT = 64;

const EMPTY = Buffer.alloc(0);

export class Connection implements FrameSink {
  readyState: ReadyState = ReadyState.Open;
  readonly role: Role;

  /** The close frame we sent: code (undefined when it carried none) and reason. */
  closeSent: { code: number | undefined; reason: string } | null = null;
  /** The close frame we received; code 1005 when it carried none. */
  closeReceived: { code: number; reason: string } | null = null;
  /** Set when the connection was failed, by the peer's fault or ours. */
  failure: ProtocolError | null = null;

  private readonly parser: FrameParser;
  private readonly handler: ConnectionHandler;
  private readonly maxPayload: number;
  private readonly maxFragments: number;
  private readonly generateMask: (() => Uint8Array) | null;
  private readonly allowRsv1: boolean;
  private readonly autoPong: boolean;
  private readonly onFrame: ((frame: FrameInfo) => void) | null;

  // The frame being received.
  private frameOpcode = 0;
  private frameFin = true;
  private frameLength = 0;
  /** A control frame's payload pieces; created with the first one, reused after. */
  private framePieces: Buffer[] | null = null;
  private frameIsControl = false;

  // The message being received (possibly across fragments).
  private messageOpcode = 0; // 0: none in progress
  private messageCompressed = false;
  private messageLength = 0;
  private messageFragments = 0;
  /** The message's payload as it arrives (grows with bytes received, not with declared lengths). */
  private readonly message: MessageAssembly;
  /** Incremental UTF-8 state, created the first time a text message needs it. */
  private utf8: Utf8Validator | null = null;
  /** Validate this message's text incrementally (fragmented or split across reads). */
  private validateIncrementally = false;

  // The message being sent in fragments (0: none in progress).
  private sendingOpcode = 0;
  private endEmitted = false;

  constructor(options: ConnectionOptions, handler: ConnectionHandler) {
    this.role = options.role;
    this.handler = handler;
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.maxFragments = options.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
    this.message = new MessageAssembly(options.budget ?? null);
    this.generateMask = options.generateMask ?? null;
    if (this.role === 'client' && this.generateMask === null) {
      throw new TypeError('the client role needs generateMask (RFC 6455 section 5.3)');
    }
    this.allowRsv1 = options.allowRsv1 ?? false;
    this.autoPong = options.autoPong ?? true;
    this.onFrame = options.onFrame ?? null;
    this.parser = new FrameParser(this);
  }

  // ---------------------------------------------------------------------------------------------
  // Input

  /** Feed bytes read from the transport. The buffer may be unmasked in place. */
  receiveData(data: Buffer): void {
    this.parser.push(data);
  }

  /**
   * The transport ended or closed. Moves to CLOSED. Returns what the API reports: the received close
   * code and reason, or 1006 when the closing handshake did not complete.
   */
  receiveEof(): { code: number; reason: string; wasClean: boolean } {
    this.readyState = ReadyState.Closed;
    this.parser.halt();
    this.releaseMessage();
    const clean = this.closeSent !== null && this.closeReceived !== null && this.failure === null;
    if (this.closeReceived !== null) {
      return { code: this.closeReceived.code, reason: this.closeReceived.reason, wasClean: clean };
    }
    return { code: CloseCode.Abnormal, reason: '', wasClean: false };
  }

  /**
   * Stop handing frames on after the current one (an adapter inflating a message asynchronously
   * keeps later frames, the close frame included, behind it). Bytes keep being buffered.
   */
  pauseInput(): void {
    this.parser.pause();
  }

  /** Parse what arrived while paused; messages may be delivered before this returns. */
  resumeInput(): void {
    this.parser.resume();
  }

  /** True once both close frames crossed, or the connection failed: the transport may close. */
  get closeExpected(): boolean {
    return this.endEmitted;
  }

  // FrameSink ----------------------------------------------------------------------------------

  frameStart(h: FrameHeader): void {
    if (this.onFrame !== null) this.onFrame({ ...h, direction: 'in' });
    const opcode = h.opcode;
    // Section 5.2: RSV bits MUST be 0 unless an extension defining them was negotiated.
    if (h.rsv2 || h.rsv3) {
      this.fail('WS_ERR_UNEXPECTED_RSV', 1002, 'RSV2 and RSV3 must be clear');
      return;
    }
    if (!isKnownOpcode(opcode)) {
      this.fail('WS_ERR_INVALID_OPCODE', 1002, `reserved opcode 0x${opcode.toString(16)}`);
      return;
    }
    // Section 5.1: a server MUST close on an unmasked frame; a client MUST close on a masked one.
    if (this.role === 'server' && !h.masked) {
      this.fail('WS_ERR_EXPECTED_MASK', 1002, 'client frames must be masked');
      return;
    }
    if (this.role === 'client' && h.masked) {
      this.fail('WS_ERR_UNEXPECTED_MASK', 1002, 'server frames must not be masked');
      return;
    }
    this.frameOpcode = opcode;
    this.frameFin = h.fin;
    this.frameLength = h.length;
    if (opcode >= 0x8) {
      // Section 5.5: control frames MUST have a payload of 125 bytes or less and MUST NOT be fragmented.
      if (!h.fin) {
        this.fail('WS_ERR_INVALID_CONTROL_FRAME', 1002, 'fragmented control frame');
        return;
      }
      if (h.length > 125) {
        this.fail('WS_ERR_INVALID_CONTROL_FRAME', 1002, 'control frame payload over 125 bytes');
        return;
      }
      if (h.rsv1) {
        this.fail('WS_ERR_UNEXPECTED_RSV', 1002, 'RSV1 set on a control frame');
        return;
      }
      this.frameIsControl = true;
      return;
    }
    this.frameIsControl = false;
    if (opcode === Opcode.Continuation) {
      // Section 5.4: a continuation frame only continues a message in progress.
      if (this.messageOpcode === 0) {
        this.fail('WS_ERR_UNEXPECTED_CONTINUATION', 1002, 'continuation frame without a message');
        return;
      }
      // RFC 7692 section 6: RSV1 is set on the first frame of a compressed message only.
      if (h.rsv1) {
        this.fail('WS_ERR_UNEXPECTED_RSV', 1002, 'RSV1 set on a continuation frame');
        return;
      }
      if (
        ++this.messageFragments >
        this.maxFragments + (this.messageLength + h.length) / BYTES_PER_EXTRA_FRAGMENT
      ) {
        this.fail(
          'WS_ERR_TOO_MANY_FRAGMENTS',
          1008,
          `message in more than ${this.maxFragments} fragments (+1 per ${BYTES_PER_EXTRA_FRAGMENT} bytes)`,
        );
        return;
      }
    } else {
      if (this.messageOpcode !== 0) {
        this.fail('WS_ERR_EXPECTED_CONTINUATION', 1002, 'new data frame inside a fragmented message');
        return;
      }
      if (h.rsv1 && !this.allowRsv1) {
        this.fail('WS_ERR_UNEXPECTED_RSV', 1002, 'RSV1 set but no extension negotiated it');
        return;
      }
      this.messageOpcode = opcode;
      this.messageCompressed = h.rsv1;
      this.messageLength = 0;
      this.messageFragments = 1;
      this.validateIncrementally = !(h.fin && opcode === Opcode.Text);
      this.utf8?.reset();
    }
    // Enforce the size limit from the header alone, before a byte of the payload is buffered.
    if (this.messageLength + h.length > this.maxPayload) {
      this.fail('WS_ERR_MESSAGE_TOO_BIG', 1009, `message exceeds maxPayload (${this.maxPayload} bytes)`);
      return;
    }
    this.messageLength += h.length;
  }

  framePayload(piece: Buffer): void {
    if (this.frameIsControl) {
      this.framePiecesArray().push(piece);
      return;
    }
    if (!this.textValid(piece)) return;
    try {
      this.message.push(piece, this.messageLength, this.assemblyCap());
    } catch (error) {
      this.failToStore(error as Error);
    }
  }

  /** A piece of a masked payload that arrives in several reads: unmasked as it is copied into place. */
  framePayloadMasked(source: Buffer, key: Uint8Array, phase: number): void {
    if (this.frameIsControl) {
      unmaskInPlace(source, key, phase);
      this.framePiecesArray().push(source);
      return;
    }
    let piece: Buffer;
    try {
      piece = this.message.pushMasked(source, key, phase, this.messageLength, this.assemblyCap());
    } catch (error) {
      this.failToStore(error as Error);
      return;
    }
    this.textValid(piece);
  }

  /**
   * The most the message being received can be: a final frame's declared end (`messageLength` is
   * where the current frame ends), else maxPayload (more fragments may come).
   */
  private assemblyCap(): number {
    return this.frameFin ? this.messageLength : this.maxPayload;
  }

  /** Validate a text message's piece as it comes where that is needed; false when it failed. */
  private textValid(piece: Buffer): boolean {
    if (this.messageOpcode !== Opcode.Text || this.messageCompressed) return true;
    if (!this.validateIncrementally) {
      // A payload that arrives whole is checked once, natively, at its end.
      if (piece.length === this.frameLength) return true;
      // A single-frame message that arrives in several reads (this piece is not the whole payload):
      // validate from its first piece on, so the connection fails on the first invalid byte rather
      // than when the frame completes.
      this.validateIncrementally = true;
    }
    if (this.validator().push(piece)) return true;
    this.fail('WS_ERR_INVALID_UTF8', 1007, 'invalid UTF-8 in a text message');
    return false;
  }

  /** Out of memory, or over the shared budget, for this message: this connection pays, not the process. */
  private failToStore(error: Error): void {
    if (error instanceof BudgetExceededError) {
      this.fail('WS_ERR_BUDGET_EXCEEDED', 1013, 'server busy: try again later');
    } else {
      this.fail('WS_ERR_ALLOCATION_FAILED', 1011, `cannot allocate the message: ${error.message}`);
    }
  }

  frameEnd(): void {
    if (this.frameIsControl) {
      const payload = takePieces(this.framePieces);
      this.controlFrame(this.frameOpcode, payload);
      return;
    }
    if (!this.frameFin) return;
    const isText = this.messageOpcode === Opcode.Text;
    const compressed = this.messageCompressed;
    const data = this.message.take();
    if (isText && !compressed) {
      const ok = this.validateIncrementally ? (this.utf8?.complete ?? true) : isValidUtf8(data);
      if (!ok) {
        this.fail('WS_ERR_INVALID_UTF8', 1007, 'invalid UTF-8 in a text message');
        return;
      }
    }
    this.messageOpcode = 0;
    this.messageLength = 0;
    this.handler.onMessage(data, isText, compressed);
  }

  parseError(error: ProtocolError): void {
    this.failWith(error);
  }

  private controlFrame(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.Ping) {
      if (this.autoPong && this.readyState === ReadyState.Open)
        this.writeFrame(Opcode.Pong, payload, true, false);
      this.handler.onPing(payload);
    } else if (opcode === Opcode.Pong) {
      this.handler.onPong(payload);
    } else {
      this.receiveClose(payload);
    }
  }

  /** Section 5.5.1 and 7.1.5: parse the close payload, answer it, and end when both have crossed. */
  private receiveClose(payload: Buffer): void {
    let code: number = CloseCode.NoStatus;
    let reason = '';
    if (payload.length === 1) {
      this.fail('WS_ERR_INVALID_CLOSE_PAYLOAD', 1002, 'close frame payload of 1 byte');
      return;
    }
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidWireCloseCode(code)) {
        this.fail('WS_ERR_INVALID_CLOSE_CODE', 1002, `invalid close code ${code}`);
        return;
      }
      const reasonBytes = payload.subarray(2);
      if (!isValidUtf8(reasonBytes)) {
        this.fail('WS_ERR_INVALID_UTF8', 1007, 'invalid UTF-8 in the close reason');
        return;
      }
      reason = reasonBytes.toString('utf8');
    }
    this.closeReceived = { code, reason };
    // Nothing after a close frame is read (section 5.5.1: the endpoint MUST NOT send more data frames,
    // so anything more is ignored).
    this.parser.halt();
    this.releaseMessage();
    if (this.closeSent === null) {
      // Echo the status code (section 5.5.1: "typically echos the status code it received"), and its
      // reason too, as ws and Autobahn's echo server do: a browser that closes with a reason sees it
      // in its close event. It fits: the peer's close payload was 125 bytes at most.
      if (code === CloseCode.NoStatus) this.sendCloseFrame(undefined, '');
      else this.sendCloseFrame(code, reason);
    }
    this.readyState = ReadyState.Closing;
    this.handler.onCloseFrame(code, reason);
    // Section 7.1.1: the server closes the TCP connection first; the client waits for it (the adapter
    // ends it anyway after a timeout).
    if (this.role === 'server') this.end();
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /**
   * Send a data frame. With `fin` false the message continues in later calls (fragmentation); those
   * continuation frames go out with opcode 0 automatically.
   */
  send(data: Uint8Array, isText: boolean, fin = true, compressed = false): void {
    this.assertOpen();
    let opcode: number;
    if (this.sendingOpcode !== 0) {
      opcode = Opcode.Continuation;
      compressed = false;
    } else {
      opcode = isText ? Opcode.Text : Opcode.Binary;
    }
    this.sendingOpcode = fin ? 0 : isText ? Opcode.Text : Opcode.Binary;
    this.writeFrame(opcode, data, fin, compressed);
  }

  /** True while a message sent with `fin` false awaits its last fragment. */
  get sendingFragmented(): boolean {
    return this.sendingOpcode !== 0;
  }

  /**
   * Frame a complete data message without writing it or checking state: for an adapter that
   * transforms messages asynchronously (compression), checked the state when the message was
   * accepted, and keeps the order of everything it writes itself.
   */
  frameMessage(payload: Uint8Array, isText: boolean, compressed: boolean): Buffer[] {
    return this.serialize(isText ? Opcode.Text : Opcode.Binary, payload, true, compressed);
  }

  ping(payload: Uint8Array = EMPTY): void {
    this.assertOpen();
    if (payload.length > 125) throw new RangeError('a ping payload must be 125 bytes or less');
    this.writeFrame(Opcode.Ping, payload, true, false);
  }

  pong(payload: Uint8Array = EMPTY): void {
    this.assertOpen();
    if (payload.length > 125) throw new RangeError('a pong payload must be 125 bytes or less');
    this.writeFrame(Opcode.Pong, payload, true, false);
  }

  /**
   * Start the closing handshake (section 7.1.2). `code` undefined sends a close frame without a status.
   * Idempotent once a close frame has been sent.
   */
  close(code?: number, reason = ''): void {
    // An integer code that may appear on the wire: 1000.5 would otherwise go out truncated to 1000.
    if (code !== undefined && !isValidApplicationCloseCode(code)) {
      throw new RangeError(`invalid close code ${code}`);
    }
    if (code === undefined && reason !== '') throw new TypeError('a close reason needs a close code');
    const reasonLength = Buffer.byteLength(reason);
    if (reasonLength > 123) throw new RangeError('a close reason must be 123 bytes of UTF-8 or less');
    if (this.closeSent !== null || this.readyState === ReadyState.Closed) return;
    this.sendCloseFrame(code, reason);
    this.readyState = ReadyState.Closing;
    if (this.closeReceived !== null && this.role === 'server') this.end();
  }

  /** Fail the connection ourselves (section 7.1.7): send a close frame if we can, then end. */
  fail(code: ProtocolError['code'], closeCode: number, message: string): void {
    this.failWith(new ProtocolError(code, closeCode, message));
  }

  private failWith(error: ProtocolError): void {
    if (this.failure !== null || this.readyState === ReadyState.Closed) return;
    this.failure = error;
    this.parser.halt();
    this.releaseMessage();
    if (this.closeSent === null) this.sendCloseFrame(error.closeCode, error.message.slice(0, 123));
    this.readyState = ReadyState.Closing;
    this.handler.onProtocolError(error);
    this.end();
  }

  private sendCloseFrame(code: number | undefined, reason: string): void {
    this.closeSent = { code, reason };
    this.writeFrame(Opcode.Close, encodeClosePayload(code, reason), true, false);
  }

  private end(): void {
    if (this.endEmitted) return;
    this.endEmitted = true;
    this.handler.onEnd();
  }

  private assertOpen(): void {
    if (this.readyState !== ReadyState.Open) {
      throw new LocalStateError(
        this.readyState === ReadyState.Connecting
          ? 'the connection is not open yet'
          : 'the connection is closing or closed',
      );
    }
  }

  private writeFrame(opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean): void {
    this.handler.onWrite(this.serialize(opcode, payload, fin, rsv1));
  }

  private serialize(opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean): Buffer[] {
    const mask = this.generateMask === null ? null : this.generateMask();
    if (this.onFrame !== null) {
      this.onFrame({
        direction: 'out',
        fin,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        masked: mask !== null,
        length: payload.length,
      });
    }
    return serializeFrame({ fin, rsv1, opcode, payload }, mask);
  }

  private framePiecesArray(): Buffer[] {
    if (this.framePieces === null) this.framePieces = [];
    return this.framePieces;
  }

  private validator(): Utf8Validator {
    if (this.utf8 === null) this.utf8 = new Utf8Validator();
    return this.utf8;
  }

  private releaseMessage(): void {
    this.message.reset();
    if (this.framePieces !== null) this.framePieces.length = 0;
    this.messageOpcode = 0;
  }
}

/** Join a control frame's pieces (125 bytes at most) and empty the array for the next frame. */
function takePieces(pieces: Buffer[] | null): Buffer {
  if (pieces === null || pieces.length === 0) return EMPTY;
  const joined = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  pieces.length = 0;
  return joined;
}
