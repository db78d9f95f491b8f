/**
 * What the hub knows of a transport: a place to write encoded server messages to, one session's at a
 * time. WebSocket, SSE and long-polling adapters implement it (server/hub-*.ts); tests use an
 * in-memory one. The hub writes while `writable` and calls `commit()` after each batch.
 */
export type TransportKind = 'websocket' | 'sse' | 'polling';

export interface HubTransport {
  readonly kind: TransportKind;
  /**
   * Whether it takes a message now: open, under its high-water mark, and (long-polling) a poll
   * waiting. When it becomes writable again it calls the session's `flush()`.
   */
  readonly writable: boolean;
  /** One server message, encoded (JSON text). */
  write(text: string): void;
  /** The end of a batch of writes (a long-poll answers with the batch; others may uncork). */
  commit(): void;
  /** Close it; `code` is a WebSocket close code (1000, 1001 or a HubCloseCode). */
  close(code: number, reason: string): void;
}
