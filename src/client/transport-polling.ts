/**
 * The hub over long-polling: a GET waits for hub messages (NDJSON answer), the next one goes out as
 * soon as it is answered; messages go up over POST. The transport id `t` is random per transport.
 */
import { Poster } from './poster.js';
import type { ClientTransport, TransportContext, TransportEnd, TransportHandlers } from './transport.js';

export function openPolling(context: TransportContext, handlers: TransportHandlers): ClientTransport {
  const id = randomId();
  let ended = false;
  const end = (info: TransportEnd) => {
    if (ended) return;
    ended = true;
    poster.stop();
    handlers.end(info);
  };
  const poster = new Poster(context, end);
  const loop = async () => {
    while (!ended) {
      const query = context.query();
      query.set('t', id);
      let status: number;
      let text = '';
      try {
        const res = await context.fetch(`${context.base}${context.paths.poll}?${query}`, {
          signal: poster.signal,
        });
        status = res.status;
        text = await res.text();
      } catch {
        status = 0;
      }
      if (ended) return;
      if (status !== 200) {
        end({ code: 1006, reason: `poll failed (${status || 'network'})`, unauthorized: status === 401 });
        return;
      }
      for (const line of text.split('\n')) {
        if (line !== '' && !ended) handlers.message(line);
      }
    }
  };
  void loop();
  return {
    kind: 'polling',
    send: (text) => poster.send(text),
    close: (bye) => {
      ended = true;
      poster.stop(bye);
    },
  };
}

export function randomId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}
