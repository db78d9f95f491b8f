/**
 * The hub's WebSocket transport: a WebSocketServer route whose clients speak the hub protocol
 * (docs/protocol.md) in text messages, subprotocol `conduit.v1`. Over HTTP/1.1 upgrade or HTTP/2
 * (RFC 8441) alike, as the WebSocketServer attached to the route takes both. A client resumes its
 * session with `?session=ID` in the URL and proves who it is with `?token=JWT` (hub-access.ts); a
 * refused token gets a TOKEN_INVALID error and close code 4001 (a browser cannot read an HTTP status
 * of a refused upgrade, but it reads a close code).
 */
import { encodeServerMessage, HubCloseCode, SUBPROTOCOL } from '../protocol/hub/messages.js';
import type { Hub } from '../session/hub.js';
import type { Session } from '../session/session.js';
import type { HubTransport } from '../session/transport.js';
import type { WebSocketConnection } from '../transports/ws/connection.js';
import { PreparedMessage } from '../transports/ws/prepared.js';
import type { WebSocketServer } from '../transports/ws/server.js';
import { type HubAccess, TokenError } from './hub-access.js';

/** Bytes a client may have waiting in its socket before the hub holds messages in the session queue. */
const HIGH_WATER = 256 * 1024;
/** Messages a client may send while its token is being verified (more closes with 4002). */
const MAX_EARLY_MESSAGES = 64;

/** `handleProtocols` for the route: conduit.v1 or nothing (the connection is then closed with 1002). */
export function chooseHubProtocol(protocols: readonly string[]): string | false {
  return protocols.includes(SUBPROTOCOL) ? SUBPROTOCOL : false;
}

/**
 * Serve the hub on every connection of `wss`. Give the route `origins: (o) => access.originAllowed(o)`
 * so that the Origin allow-list refuses the upgrade itself (403).
 */
export function serveHubOverWebSocket(hub: Hub, wss: WebSocketServer, access: HubAccess): void {
  wss.on('connection', (ws, req) => {
    ws.on('error', () => undefined);
    if (ws.protocol !== SUBPROTOCOL) {
      ws.close(1002, `the hub speaks the ${SUBPROTOCOL} subprotocol only`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    let session: Session | null = null;
    const early: string[] = [];
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.close(HubCloseCode.ProtocolViolation, `${SUBPROTOCOL} messages are JSON text`);
        return;
      }
      const text = data.toString('utf8');
      if (session !== null) hub.receive(session, text);
      else if (early.push(text) > MAX_EARLY_MESSAGES)
        ws.close(HubCloseCode.ProtocolViolation, 'too many messages before connected');
    });
    access.identify(url, req.headers.authorization).then(
      (identity) => {
        if (ws.readyState !== 1) return;
        const transport = websocketTransport(ws);
        const opened = hub.open(transport, identity, url.searchParams.get('session'));
        session = opened;
        ws.on('drain', () => hub.drained(opened));
        ws.on('close', (code) => {
          // A clean close by the client (1000, or 1001 for a page going away) ends the session; any
          // other end keeps it for the client to resume. A close the server started (a newer
          // transport replaced this one) no longer concerns the session: detach ignores it.
          if ((code === 1000 || code === 1001) && opened.transport === transport) hub.finish(opened);
          else hub.detach(opened, transport);
        });
        for (const text of early.splice(0)) hub.receive(opened, text);
      },
      (error: unknown) => {
        const message = error instanceof TokenError ? error.message : 'the token could not be checked';
        ws.send(encodeServerMessage({ type: 'error', code: 'TOKEN_INVALID', message }));
        ws.close(HubCloseCode.Unauthorized, 'token invalid');
      },
    );
  });
}

function websocketTransport(ws: WebSocketConnection): HubTransport {
  return {
    kind: 'websocket',
    get writable() {
      return ws.readyState === 1 && ws.bufferedAmount < HIGH_WATER;
    },
    // Framed once for every subscriber of a publication (Outbound.wsFrame), written as is to each.
    write: (message) => {
      message.wsFrame ??= new PreparedMessage(message.text);
      ws.send(message.wsFrame as PreparedMessage);
    },
    commit: () => undefined,
    close: (code, reason) => {
      if (ws.readyState === 1) ws.close(code, reason);
    },
  };
}
