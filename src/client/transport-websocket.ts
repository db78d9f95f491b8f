/** The hub over WebSocket: one text message per hub message, subprotocol conduit.v1. */
import type { ClientTransport, TransportContext, TransportHandlers } from './transport.js';

export function openWebSocket(context: TransportContext, handlers: TransportHandlers): ClientTransport {
  const Ws = context.WebSocket;
  if (Ws === undefined) throw new Error('no WebSocket here: pass one in the options');
  const url = `${context.base.replace(/^http/, 'ws')}${context.paths.ws}?${context.query()}`;
  const ws = new Ws(url, 'conduit.v1');
  let closed = false;
  ws.onmessage = (event) => {
    if (!closed && typeof event.data === 'string') handlers.message(event.data);
  };
  ws.onerror = () => undefined; // a close event follows
  ws.onclose = (event) => {
    if (closed) return;
    closed = true;
    handlers.end({ code: event.code, reason: event.reason, unauthorized: event.code === 4001 });
  };
  return {
    kind: 'websocket',
    send: (text) => {
      if (ws.readyState === 1) ws.send(text);
    },
    close: (bye) => {
      closed = true;
      // 1000 ends the session on the server; 4000 (ours) is a drop it keeps the session through.
      if (bye === true) ws.close(1000, 'bye');
      else ws.close(4000, 'dropped');
    },
  };
}
