/**
 * What the hub knows of a transport: a place to write encoded server messages to, one session's at a
 * time. WebSocket, SSE and long-polling adapters implement it (server/hub-*.ts); tests use an
 * in-memory one. The hub writes while `writable` and calls `commit()` after each batch.
 */
export type TransportKind = 'websocket' | 'sse' | 'polling';

/**
 * One encoded server message. A publication's is shared by every session it goes to, so that a
 * transport frames it once for all of them (the slots below) and writes the same bytes to each.
 */
export class Outbound {
  /** The WebSocket transport's frame of it. */
  wsFrame: unknown = undefined;
  /** The SSE transport's event of it. */
  sseEvent: string | undefined = undefined;
  constructor(
    /** The JSON text. */
    readonly text: string,
  ) {}
}

export interface HubTransport {
  readonly kind: TransportKind;
  /**
   * Whether it takes a message now: open, under its high-water mark, and (long-polling) a poll
   * waiting. When it becomes writable again it calls the session's `flush()`.
   */
  readonly writable: boolean;
  /** One server message, encoded. */
  write(message: Outbound): void;
  /** The end of a batch of writes (a long-poll answers with the batch; others may uncork). */
  commit(): void;
  /** Close it; `code` is a WebSocket close code (1000, 1001 or a HubCloseCode). */
  close(code: number, reason: string): void;
  /**
   * Stop (true) or go on (false) reading the client's messages: the session's publishes wait for a
   * slow broker. Transports whose client messages come in POSTs leave it out (the POST waits instead).
   */
  pauseInput?(paused: boolean): void;
}
