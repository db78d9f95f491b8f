/**
 * Correctness before speed: on each connection, before the load starts, a few messages are echoed one
 * at a time and every echo is inflated and compared with what was sent. The inflater follows the
 * agreement: one zlib stream per connection when the server keeps its context between messages
 * (context takeover, as ws does by default and Conduit's dedicated mode), a fresh one per message when
 * it answered server_no_context_takeover (Conduit's shared mode).
 */
import type { Socket } from 'node:net';
import { constants, createInflateRaw, type InflateRaw, inflateRawSync } from 'node:zlib';
import { COMPRESSED_TEXT, FrameCollector, type MaskedFrameWriter } from './deflate-frames.js';
import { DEFLATE_TAIL, type DeflateMessage } from './deflate-messages.js';

/** Inflates the server's messages on one connection. */
export class EchoInflater {
  private stream: InflateRaw | null = null;
  private chunks: Buffer[] = [];

  constructor(private readonly serverNoContextTakeover: boolean) {}

  inflate(payload: Buffer): Promise<Buffer> {
    if (this.serverNoContextTakeover) {
      return Promise.resolve(
        inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), { finishFlush: constants.Z_SYNC_FLUSH }),
      );
    }
    return new Promise((resolve, reject) => {
      let stream = this.stream;
      if (stream === null) {
        stream = createInflateRaw({ windowBits: 15 });
        stream.on('data', (chunk: Buffer) => this.chunks.push(chunk));
        this.stream = stream;
      }
      stream.once('error', reject);
      stream.write(payload);
      stream.write(DEFLATE_TAIL);
      stream.flush(constants.Z_SYNC_FLUSH, () => {
        stream.off('error', reject);
        const out = Buffer.concat(this.chunks);
        this.chunks = [];
        resolve(out);
      });
    });
  }

  close(): void {
    this.stream?.close();
    this.stream = null;
  }
}

/**
 * Echo `count` messages one at a time (payloads start, start+1, ...) and check each echo: a compressed
 * text frame that inflates to exactly the message sent. Resolves when all matched.
 */
export async function verifyEchoes(
  socket: Socket,
  head: Buffer,
  writer: MaskedFrameWriter,
  messages: readonly DeflateMessage[],
  start: number,
  count: number,
  serverNoContextTakeover: boolean,
  timeoutMs: number,
): Promise<void> {
  const collector = new FrameCollector();
  if (head.length > 0) collector.push(head);
  const inflater = new EchoInflater(serverNoContextTakeover);
  let wake: (() => void) | null = null;
  let broken: Error | null = null;
  const onData = (chunk: Buffer): void => {
    collector.push(chunk);
    wake?.();
  };
  const onEnd = (error?: Error): void => {
    broken = error ?? new Error('the server closed the connection during the probe');
    wake?.();
  };
  socket.on('data', onData);
  socket.on('error', onEnd);
  socket.on('close', onEnd);
  const deadline = setTimeout(() => onEnd(new Error('probe echo timed out')), timeoutMs);
  try {
    for (let n = 0; n < count; n++) {
      const index = (start + n) % messages.length;
      socket.write(writer.build(index, 1));
      let frame = collector.next();
      while (frame === null) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
        if (broken !== null) throw broken;
        frame = collector.next();
      }
      if (frame.first !== COMPRESSED_TEXT) {
        throw new Error(
          `probe: echo starts with 0x${frame.first.toString(16)}, expected 0xc1 (FIN, RSV1, text)`,
        );
      }
      const text = await inflater.inflate(frame.payload);
      if (!text.equals(messages[index]!.text)) {
        throw new Error(`probe: echo ${n + 1} inflates to ${text.length} bytes that differ from the message`);
      }
    }
    if (collector.next() !== null) throw new Error('probe: an unexpected extra frame arrived');
  } finally {
    clearTimeout(deadline);
    inflater.close();
    socket.off('data', onData);
    socket.off('error', onEnd);
    socket.off('close', onEnd);
  }
}
