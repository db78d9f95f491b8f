/**
 * A message framed once and written to many connections: what a broadcast needs. A server frame is
 * not masked, so its bytes are the same for every client; the frame (and its compressed form for each
 * set of shared-mode deflate parameters) is built on first use and then written as is, with no copy
 * per client.
 */
import { storeMessage } from '../../pipeline/stored-block.js';
import { serializeFrame } from '../../protocol/ws/frame-writer.js';
import { Opcode } from '../../protocol/ws/opcodes.js';
import { toBytes, type WebSocketData } from './bytes.js';

export class PreparedMessage {
  /** The message's payload (uncompressed). */
  readonly data: Buffer;
  readonly isText: boolean;
  private plain: Buffer[] | null = null;
  private stored: Buffer[] | null = null;
  /** Compressed frames by deflate parameters (windowBits:level:memLevel); a handful at most. */
  private compressed: Map<string, Buffer[]> | null = null;

  constructor(data: WebSocketData, options?: { binary?: boolean }) {
    this.isText = typeof data === 'string' && options?.binary !== true;
    this.data = toBytes(data);
  }

  /** The unmasked, uncompressed frame. */
  frame(): Buffer[] {
    if (this.plain === null) {
      this.plain = serializeFrame(
        { fin: true, rsv1: false, opcode: this.isText ? Opcode.Text : Opcode.Binary, payload: this.data },
        null,
      );
    }
    return this.plain;
  }

  /** The unmasked frame flagged compressed, its payload in stored blocks (no zlib: stored-block.ts). */
  storedFrame(): Buffer[] {
    if (this.stored === null) {
      this.stored = serializeFrame(
        {
          fin: true,
          rsv1: true,
          opcode: this.isText ? Opcode.Text : Opcode.Binary,
          payload: storeMessage(this.data),
        },
        null,
      );
    }
    return this.stored;
  }

  /** The unmasked frame compressed with the stateless deflater named `key`, compressing on first use. */
  compressedFrame(key: string, compress: (data: Buffer) => Buffer): Buffer[] {
    if (this.compressed === null) this.compressed = new Map();
    let frame = this.compressed.get(key);
    if (frame === undefined) {
      frame = serializeFrame(
        {
          fin: true,
          rsv1: true,
          opcode: this.isText ? Opcode.Text : Opcode.Binary,
          payload: compress(this.data),
        },
        null,
      );
      this.compressed.set(key, frame);
    }
    return frame;
  }
}
