/**
 * The hub's WebSocket transport: a WebSocketServer route whose clients speak the hub protocol
 * (docs/protocol.md) in text messages, subprotocol `conduit.v1`. Over HTTP/1.1 upgrade or HTTP/2
 * (RFC 8441) alike, as the WebSocketServer attached to the route takes both. A client resumes its
 * session with `?session=KEY` in the URL (the key of its `connected`: the id alone is public, and a
 * bare id is refused with SESSION_KEY_REQUIRED and close code 4003) and proves who it is with `?token=JWT` (hub-access.ts); a
 * refused token gets a TOKEN_INVALID error and close code 4001 (a browser cannot read an HTTP status
 * of a refused upgrade, but it reads a close code).
 */
import {
  encodeServerMessage,
  HubCloseCode,
  SESSION_KEY_REQUIRED_MESSAGE,
  SUBPROTOCOL,
} from '../protocol/hub/messages.js';
import type { Hub } from '../session/hub.js';
import type { Session } from '../session/session.js';
import { SessionKeys } from '../session/session-keys.js';
import type { HubTransport, Outbound } from '../session/transport.js';
import type { WebSocketConnection } from '../transports/ws/connection.js';
import { PreparedMessage } from '../transports/ws/prepared.js';
import type { WebSocketServer } from '../transports/ws/server.js';
import { type Admission, isRefusal, openSession } from './admission.js';
import { type HubAccess, TokenError } from './hub-access.js';
import type { HubMesh } from './hub-mesh.js';

/** `handleProtocols` for the route: conduit.v1 or nothing (the connection is then closed with 1002). */
export function chooseHubProtocol(protocols: readonly string[]): string | false {
  return protocols.includes(SUBPROTOCOL) ? SUBPROTOCOL : false;
}

/**
 * Serve the hub on every connection of `wss`. Give the route `origins: (o) => access.originAllowed(o)`
 * so that the Origin allow-list refuses the upgrade itself (403).
 */
export function serveHubOverWebSocket(
  hub: Hub,
  wss: WebSocketServer,
  access: HubAccess,
  /** With several nodes: a session held by another node moves here (hub-mesh.ts). */
  mesh: HubMesh | null = null,
  /** Limits per client address on new sessions (admission.ts). */
  admission: Admission | null = null,
): void {
  const corker = new Corker();
  wss.on('connection', (ws, req) => {
    ws.on('error', ignore);
    if (ws.protocol !== SUBPROTOCOL) {
      ws.close(1002, `the hub speaks the ${SUBPROTOCOL} subprotocol only`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    const transport = new WebSocketHubTransport(ws, corker);
    const resume = url.searchParams.get('session');
    if (resume !== null && SessionKeys.isLegacy(resume)) {
      ws.send(
        encodeServerMessage({
          type: 'error',
          code: 'SESSION_KEY_REQUIRED',
          message: SESSION_KEY_REQUIRED_MESSAGE,
        }),
      );
      ws.close(HubCloseCode.ClientTooOld, 'update the client: resuming needs the session key');
      return;
    }
    ws.on('message', (data, isBinary) => transport.received(hub, data, isBinary));
    const address = admission?.clientAddress(req) ?? '';
    access
      .identify(url, req.headers.authorization)
      .then(
        async (identity) => {
          await mesh?.takeOver(resume === null ? null : hub.sessionKeys.idOf(resume), identity);
          if (ws.readyState !== 1) return;
          let session: Session;
          try {
            const opened = openSession(hub, admission, transport, identity, resume, address);
            if (isRefusal(opened)) {
              // Too many new sessions from this address: 1013, try again later (the client backs off).
              ws.close(1013, opened.message);
              return;
            }
            session = opened;
          } catch (error) {
            // HubFullError: 1013, try again later (the client backs off).
            ws.close(1013, error instanceof Error ? error.message : 'hub full');
            return;
          }
          mesh?.claim(session);
          transport.opened(hub, session);
        },
        (error: unknown) => transport.refused(error),
      )
      // Nothing above is expected to throw; if it did, the connection ends rather than a rejection
      // going unhandled.
      .catch(() => ws.close(1011, 'internal error'));
  });
}

/** A connection's errors end it with a close event, which is what the hub acts on. */
const ignore = (): void => undefined;

/** Messages a client may send while its token is being verified (more closes with 4002). */
const MAX_EARLY_MESSAGES = 64;

/**
 * One connection's transport. A class, not closures over the connection handler's scope: an idle
 * subscriber then holds a small object (no URL, no request, no per-connection functions).
 */
class WebSocketHubTransport implements HubTransport {
  readonly kind = 'websocket';
  private session: Session | null = null;
  /** What came before the session was opened (the token being verified); then null. */
  private early: string[] | null = [];

  constructor(
    private readonly ws: WebSocketConnection,
    private readonly corker: Corker,
  ) {}

  /**
   * Open and not over the connection's high-water mark (1 MiB by default): past it the hub keeps
   * messages in the session queue, and the connection's 'drain' says when to go on.
   */
  get writable(): boolean {
    return this.ws.readyState === 1 && !this.ws.backpressured;
  }

  // Framed once for every subscriber of a publication (Outbound.wsFrame), written as is to each.
  write(message: Outbound): void {
    message.wsFrame ??= new PreparedMessage(message.text);
    this.corker.hold(this.ws);
    this.ws.send(message.wsFrame as PreparedMessage);
  }

  commit(): void {}

  close(code: number, reason: string): void {
    // Reading again if publishes held it back: the peer's answer to the close must be read.
    this.ws.resume();
    if (this.ws.readyState === 1) this.ws.close(code, reason);
  }

  // TCP flow control then holds the client back: its messages wait in the kernel and its own buffer.
  pauseInput(paused: boolean): void {
    if (paused) this.ws.pause();
    else this.ws.resume();
  }

  received(hub: Hub, data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.ws.close(HubCloseCode.ProtocolViolation, `${SUBPROTOCOL} messages are JSON text`);
      return;
    }
    const text = data.toString('utf8');
    if (this.session !== null) hub.receive(this.session, text);
    else if (this.early !== null && this.early.push(text) > MAX_EARLY_MESSAGES)
      this.ws.close(HubCloseCode.ProtocolViolation, 'too many messages before connected');
  }

  opened(hub: Hub, session: Session): void {
    if (this.ws.readyState !== 1) {
      hub.detach(session, this);
      return;
    }
    this.session = session;
    this.ws.on('drain', () => hub.drained(session));
    this.ws.on('close', (code) => {
      // A clean close by the client (1000, or 1001 for a page going away) ends the session; any
      // other end keeps it for the client to resume. A close the server started (a newer
      // transport replaced this one) no longer concerns the session: detach ignores it.
      if ((code === 1000 || code === 1001) && session.transport === this) hub.finish(session);
      else hub.detach(session, this);
    });
    const early = this.early ?? [];
    this.early = null;
    for (const text of early) hub.receive(session, text);
  }

  refused(error: unknown): void {
    this.early = null;
    const message = error instanceof TokenError ? error.message : 'the token could not be checked';
    this.ws.send(encodeServerMessage({ type: 'error', code: 'TOKEN_INVALID', message }));
    this.ws.close(HubCloseCode.Unauthorized, 'token invalid');
  }
}

/**
 * Joins the writes of one turn: a connection written to is corked until the turn's end, so that the
 * publications of a burst leave in one system call per connection rather than one per message.
 */
class Corker {
  private readonly corked = new Set<WebSocketConnection>();

  hold(ws: WebSocketConnection): void {
    if (this.corked.has(ws)) return;
    ws.cork();
    this.corked.add(ws);
    if (this.corked.size === 1) process.nextTick(this.release);
  }

  private readonly release = (): void => {
    for (const ws of this.corked) ws.uncork();
    this.corked.clear();
  };
}
