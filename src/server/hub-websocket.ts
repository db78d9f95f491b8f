/**
 * The hub's WebSocket transport: a WebSocketServer route whose clients speak the hub protocol
 * (docs/protocol.md) in text messages, subprotocol `conduit.v1`. Over HTTP/1.1 upgrade or HTTP/2
 * (RFC 8441) alike, as the WebSocketServer attached to the route takes both. A client resumes its
 * session with `?session=ID` in the URL.
 */
import { HubCloseCode, SUBPROTOCOL } from '../protocol/hub/messages.js';
import type { Hub, HubIdentity } from '../session/hub.js';
import type { HubTransport } from '../session/transport.js';
import type { WebSocketConnection } from '../transports/ws/connection.js';
import type { WebSocketServer } from '../transports/ws/server.js';

/** Bytes a client may have waiting in its socket before the hub holds messages in the session queue. */
const HIGH_WATER = 256 * 1024;

/** `handleProtocols` for the route: conduit.v1 or nothing (the connection is then closed with 1002). */
export function chooseHubProtocol(protocols: readonly string[]): string | false {
  return protocols.includes(SUBPROTOCOL) ? SUBPROTOCOL : false;
}

/** Serve the hub on every connection of `wss`; `identify` gives each client's identity (default: anonymous). */
export function serveHubOverWebSocket(
  hub: Hub,
  wss: WebSocketServer,
  identify: (url: URL) => HubIdentity = () => ({ user: null, channels: null }),
): void {
  wss.on('connection', (ws, req) => {
    ws.on('error', () => undefined);
    if (ws.protocol !== SUBPROTOCOL) {
      ws.close(1002, `the hub speaks the ${SUBPROTOCOL} subprotocol only`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    const transport = websocketTransport(ws);
    const session = hub.open(transport, identify(url), url.searchParams.get('session'));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.close(HubCloseCode.ProtocolViolation, `${SUBPROTOCOL} messages are JSON text`);
        return;
      }
      hub.receive(session, data.toString('utf8'));
    });
    ws.on('drain', () => hub.drained(session));
    ws.on('close', () => hub.detach(session, transport));
  });
}

function websocketTransport(ws: WebSocketConnection): HubTransport {
  return {
    kind: 'websocket',
    get writable() {
      return ws.readyState === 1 && ws.bufferedAmount < HIGH_WATER;
    },
    write: (text) => ws.send(text),
    commit: () => undefined,
    close: (code, reason) => {
      if (ws.readyState === 1) ws.close(code, reason);
    },
  };
}
