/** The hub over Server-Sent Events (down) and POST (up). */
import { Poster } from './poster.js';
import type { ClientTransport, TransportContext, TransportEnd, TransportHandlers } from './transport.js';

export function openSse(context: TransportContext, handlers: TransportHandlers): ClientTransport {
  const Es = context.EventSource;
  if (Es === undefined) throw new Error('no EventSource here: pass one in the options');
  const source = new Es(`${context.base}${context.paths.sse}?${context.query()}`);
  let ended = false;
  const end = (info: TransportEnd) => {
    if (ended) return;
    ended = true;
    source.close();
    poster.stop();
    handlers.end(info);
  };
  const poster = new Poster(context, end);
  source.onmessage = (event) => {
    if (!ended) handlers.message(event.data);
  };
  // EventSource would reconnect by itself, without the session and positions: the client does it.
  source.onerror = () => end({ code: 1006, reason: 'event stream failed', unauthorized: false });
  return {
    kind: 'sse',
    send: (text) => poster.send(text),
    close: (bye) => {
      ended = true;
      source.close();
      poster.stop(bye);
    },
  };
}
