/**
 * Two Connection cores joined in memory, h11's ConnectionPair style: what one writes is queued and
 * delivered to the other by `deliver`, cut by an optional chunker, until neither side has anything
 * left to say. Nothing is delivered re-entrantly from inside a handler callback.
 */
import { Connection, type ConnectionOptions } from '../../src/protocol/ws/connection.js';
import { seededMasks } from './random.js';
import { RecordingHandler } from './recorder.js';

export type Chunker = (bytes: Buffer) => Buffer[];

export const wholeChunks: Chunker = (bytes) => (bytes.length === 0 ? [] : [bytes]);

export interface PairOptions {
  client?: Partial<ConnectionOptions>;
  server?: Partial<ConnectionOptions>;
  maskSeed?: number;
}

export class ConnectionPair {
  readonly clientLog = new RecordingHandler();
  readonly serverLog = new RecordingHandler();
  readonly client: Connection;
  readonly server: Connection;

  constructor(options: PairOptions = {}) {
    this.client = new Connection(
      { generateMask: seededMasks(options.maskSeed ?? 1), ...options.client, role: 'client' },
      this.clientLog,
    );
    this.server = new Connection({ ...options.server, role: 'server' }, this.serverLog);
  }

  /** Deliver queued bytes both ways until both outboxes are empty. */
  deliver(chunker: Chunker = wholeChunks): void {
    for (;;) {
      const toServer = this.clientLog.takeWritten();
      const toClient = this.serverLog.takeWritten();
      if (toServer.length === 0 && toClient.length === 0) return;
      for (const chunk of chunker(toServer)) this.server.receiveData(chunk);
      for (const chunk of chunker(toClient)) this.client.receiveData(chunk);
    }
  }

  /** Deliver only what the client wrote so far to the server. */
  deliverToServer(chunker: Chunker = wholeChunks): void {
    for (const chunk of chunker(this.clientLog.takeWritten())) this.server.receiveData(chunk);
  }

  /** Deliver only what the server wrote so far to the client. */
  deliverToClient(chunker: Chunker = wholeChunks): void {
    for (const chunk of chunker(this.serverLog.takeWritten())) this.client.receiveData(chunk);
  }
}

/** One core with a recording handler, fed by hand. */
export function endpoint(
  role: 'client' | 'server',
  options: Partial<ConnectionOptions> = {},
): { conn: Connection; log: RecordingHandler } {
  const log = new RecordingHandler();
  const conn = new Connection(
    { generateMask: role === 'client' ? seededMasks(7) : undefined, ...options, role },
    log,
  );
  return { conn, log };
}
