/**
 * The hub's SSE transport, server to client: one SSE event per hub message (`data:` is its JSON), on
 * an SseStream. What the session flushes in one go is joined into one write. Closing sends a
 * `disconnect` message with the code, then ends the response. The client sends over POST (hub-http.ts).
 */
import { encodeServerMessage } from '../protocol/hub/messages.js';
import type { HubTransport } from '../session/transport.js';
import type { SseStream } from '../transports/sse/stream.js';

/** Bytes the socket may hold before the hub keeps messages in the session queue. */
const HIGH_WATER = 256 * 1024;

export function sseTransport(stream: SseStream): HubTransport {
  let batch = '';
  let events = 0;
  return {
    kind: 'sse',
    get writable() {
      return !stream.closed && stream.bufferedAmount + batch.length < HIGH_WATER;
    },
    write(message) {
      // JSON.stringify never emits a raw line break, so one data line carries the message.
      message.sseEvent ??= `data: ${message.text}\n\n`;
      batch += message.sseEvent;
      events++;
    },
    commit() {
      if (batch === '') return;
      stream.sendEncoded(batch, events);
      batch = '';
      events = 0;
    },
    close(code, reason) {
      if (stream.closed) return;
      this.commit();
      stream.sendEncoded(`data: ${disconnectText(code, reason)}\n\n`);
      stream.close();
    },
  };
}

/**
 * What an HTTP transport sends before it ends: the close code and whether to reconnect (not after
 * being replaced by another transport of the same session, nor after a refused token or a protocol
 * violation, which a reconnect would not mend).
 */
export function disconnectText(code: number, reason: string): string {
  const reconnect = code !== 1000 && code !== 4001 && code !== 4002;
  return encodeServerMessage({ type: 'disconnect', code, reason, reconnect });
}
