/**
 * A ConnectionHandler that records everything a Connection reports, in order, and keeps the bytes it
 * asked to write in an outbox for the test (or a ConnectionPair) to deliver.
 */
import type { ProtocolError } from '../../src/protocol/errors.js';
import type { ConnectionHandler } from '../../src/protocol/ws/connection.js';
import { type DecodedFrame, decodeFrames } from './frames.js';

export type RecordedEvent =
  | {
      readonly type: 'message';
      readonly data: Buffer;
      readonly isText: boolean;
      readonly compressed: boolean;
    }
  | { readonly type: 'ping'; readonly payload: Buffer }
  | { readonly type: 'pong'; readonly payload: Buffer }
  | { readonly type: 'closeFrame'; readonly code: number; readonly reason: string }
  | { readonly type: 'end' }
  | { readonly type: 'protocolError'; readonly error: ProtocolError };

export class RecordingHandler implements ConnectionHandler {
  readonly events: RecordedEvent[] = [];
  /** Bytes written and not yet taken. */
  private outbox: Buffer[] = [];
  /** Every byte ever written, for assertions on the whole output. */
  private allWritten: Buffer[] = [];

  onMessage(data: Buffer, isText: boolean, compressed: boolean): void {
    this.events.push({ type: 'message', data, isText, compressed });
  }
  onPing(payload: Buffer): void {
    this.events.push({ type: 'ping', payload });
  }
  onPong(payload: Buffer): void {
    this.events.push({ type: 'pong', payload });
  }
  onCloseFrame(code: number, reason: string): void {
    this.events.push({ type: 'closeFrame', code, reason });
  }
  onWrite(chunks: Buffer[]): void {
    // Copy: an unmasked frame may share the sender's payload buffer, and a receiver unmasks in place.
    for (const chunk of chunks) {
      const copy = Buffer.from(chunk);
      this.outbox.push(copy);
      this.allWritten.push(copy);
    }
  }
  onEnd(): void {
    this.events.push({ type: 'end' });
  }
  onProtocolError(error: ProtocolError): void {
    this.events.push({ type: 'protocolError', error });
  }

  /** Bytes written since the last call. */
  takeWritten(): Buffer {
    const out = Buffer.concat(this.outbox);
    this.outbox = [];
    return out;
  }

  /** Every byte written so far, as frames. */
  writtenFrames(): DecodedFrame[] {
    return decodeFrames(Buffer.concat(this.allWritten));
  }

  messages(): Array<{ data: Buffer; isText: boolean; compressed: boolean }> {
    const out: Array<{ data: Buffer; isText: boolean; compressed: boolean }> = [];
    for (const e of this.events) if (e.type === 'message') out.push(e);
    return out;
  }

  errors(): ProtocolError[] {
    const out: ProtocolError[] = [];
    for (const e of this.events) if (e.type === 'protocolError') out.push(e.error);
    return out;
  }

  ended(): boolean {
    return this.events.some((e) => e.type === 'end');
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }
}
