/**
 * The hub over plain HTTP, for networks where WebSocket does not get through (docs/protocol.md):
 *
 *   GET  /hub/sse?session=S            SSE stream of hub messages (hub-sse.ts)
 *   GET  /hub/poll?t=T&session=S       long-poll: waits for hub messages, answers NDJSON (hub-polling.ts)
 *   POST /hub/send?session=S           client messages, one JSON per line; 204
 *
 * `session` is the key of the session to resume (absent on the first connection): the `key` of its
 * `connected`, which only its client holds; a bare session id (public) is refused with 400
 * SESSION_KEY_REQUIRED. `t` is the polling transport's id, chosen by the client (16-64 characters of
 * A-Z a-z 0-9 _ -): the first GET with a new `t` opens the transport and is answered at once with
 * `connected`; later GETs of that `t` name its session's key too (403 otherwise). Every request passes the Origin
 * allow-list (403) and, with tokens on, carries the token (401 TOKEN_INVALID); a POST's user must be the
 * session's (403). HTTP/1.1 and HTTP/2 alike (the compatibility API).
 */
import type { ServerResponse } from 'node:http';
import { SESSION_KEY_REQUIRED_MESSAGE } from '../protocol/hub/messages.js';
import type { Hub, HubIdentity } from '../session/hub.js';
import type { Session } from '../session/session.js';
import { SessionKeys } from '../session/session-keys.js';
import { SseStream } from '../transports/sse/stream.js';
import { type Admission, isRefusal, openSession, type Refusal } from './admission.js';
import { type HttpRequest, type HttpResponse, readTextBody, replyJson } from './http-body.js';
import { type HubAccess, TokenError } from './hub-access.js';
import type { HubMesh, RemotePolls } from './hub-mesh.js';
import { answer, PollingTransport, type PollWaiter, responseWaiter } from './hub-polling.js';
import { disconnectText, sseTransport } from './hub-sse.js';

export interface HubHttpOptions {
  /** How long a long-poll GET waits for a message before answering empty, ms. Default 25 s. */
  pollTimeoutMs?: number;
  /**
   * Largest POST body, bytes: 413 before reading for a Content-Length over it, as it passes it for a
   * chunked body; the connection is closed. Default 1 MiB.
   */
  maxPostBytes?: number;
  /** Milliseconds a POST body has to arrive in full (408, closed). Default 10 s (DEFAULT_BODY_TIMEOUT_MS). */
  bodyTimeoutMs?: number;
  /** SSE keepalive comment interval, ms. Default 15 s. */
  sseKeepAliveMs?: number;
}

export const HUB_HTTP_PATHS = ['/hub/sse', '/hub/poll', '/hub/send'] as const;

const TRANSPORT_ID = /^[A-Za-z0-9_-]{16,64}$/;
/** A POST of client messages waits at most this long for the session's publishes to settle, ms. */
const POST_SETTLE_MS = 10_000;

export class HubHttp {
  private readonly polling = new Map<string, { transport: PollingTransport; session: Session }>();
  private readonly pollTimeoutMs: number;
  private readonly maxPostBytes: number;
  private readonly bodyTimeoutMs: number | undefined;
  private readonly sseKeepAliveMs: number;

  constructor(
    private readonly hub: Hub,
    private readonly access: HubAccess,
    options: HubHttpOptions = {},
    /** With several nodes (Redis): requests for sessions held elsewhere go there (hub-mesh.ts). */
    private readonly mesh: HubMesh | null = null,
    /** Limits per client address on new sessions (admission.ts). */
    private readonly admission: Admission | null = null,
  ) {
    this.pollTimeoutMs = options.pollTimeoutMs ?? 25_000;
    this.maxPostBytes = options.maxPostBytes ?? 1024 * 1024;
    this.bodyTimeoutMs = options.bodyTimeoutMs;
    this.sseKeepAliveMs = options.sseKeepAliveMs ?? 15_000;
    mesh?.servePolls(this.remotePolls);
  }

  /** Polling transports open now. */
  get pollingTransports(): number {
    return this.polling.size;
  }

  /** Handle a request to one of HUB_HTTP_PATHS. */
  handle(req: HttpRequest, res: HttpResponse, path: string): void {
    const origin = req.headers.origin;
    if (!this.access.originAllowed(origin)) {
      replyJson(res, 403, { error: 'origin not allowed' });
      return;
    }
    const cors = corsHeaders(origin);
    if (req.method === 'OPTIONS') {
      (res as ServerResponse)
        .writeHead(204, {
          ...cors,
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'authorization, content-type, last-event-id',
          'access-control-max-age': '600',
        })
        .end();
      return;
    }
    const method = path === '/hub/send' ? 'POST' : 'GET';
    if (req.method !== method) {
      replyJson(res, 405, { error: `${path} takes ${method}` }, false, { ...cors, allow: method });
      return;
    }
    for (const [name, value] of Object.entries(cors)) res.setHeader(name, value);
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    this.access
      .identify(url, req.headers.authorization)
      .then(
        (identity) => {
          if (path === '/hub/sse') return this.sse(req, res, url, identity);
          if (path === '/hub/poll') return this.poll(req, res, url, identity);
          return this.send(req, res, url, identity);
        },
        (error: unknown) => {
          const message = error instanceof TokenError ? error.message : 'the token could not be checked';
          replyJson(res, 401, { type: 'error', code: 'TOKEN_INVALID', message });
        },
      )
      // Nothing above is expected to throw; if it did, the request ends rather than a rejection
      // going unhandled.
      .catch(() => res.destroy());
  }

  /** Close every polling transport (the hub closes the sessions' transports itself). */
  close(): void {
    for (const { transport } of [...this.polling.values()]) transport.close(1001, 'server shutting down');
  }

  /**
   * The session key of the request (`?session=KEY`), or null; a bare session id (a protocol version 1
   * client) is answered 400 SESSION_KEY_REQUIRED here and `false` returned.
   */
  private sessionKey(url: URL, res: HttpResponse): string | null | false {
    const key = url.searchParams.get('session');
    if (key === null || !SessionKeys.isLegacy(key)) return key;
    replyJson(
      res,
      400,
      { type: 'error', code: 'SESSION_KEY_REQUIRED', message: SESSION_KEY_REQUIRED_MESSAGE },
      true,
    );
    return false;
  }

  private async sse(req: HttpRequest, res: HttpResponse, url: URL, identity: HubIdentity): Promise<void> {
    const resume = this.sessionKey(url, res);
    if (resume === false) return;
    await this.mesh?.takeOver(resume === null ? null : this.hub.sessionKeys.idOf(resume), identity);
    if (res.writableEnded || res.destroyed) return;
    const address = this.admission?.clientAddress(req) ?? '';
    if (this.refuseNewSession(res, identity, resume, address)) return;
    const stream = new SseStream(req, res, {
      keepAliveMs: this.sseKeepAliveMs,
      // The hub holds messages in the session queue past 256 KiB (hub-sse.ts); this is a last resort.
      maxBufferedBytes: 16 * 1024 * 1024,
    });
    const transport = sseTransport(stream);
    let session: Session;
    try {
      const opened = openSession(this.hub, this.admission, transport, identity, resume, address);
      if (isRefusal(opened)) {
        // Checked before the stream started (below): only a race ends up here.
        stream.sendEncoded(`data: ${disconnectText(1013, opened.message)}\n\n`);
        stream.close();
        return;
      }
      session = opened;
    } catch (error) {
      stream.sendEncoded(`data: ${disconnectText(1013, (error as Error).message)}\n\n`);
      stream.close();
      return;
    }
    this.mesh?.claim(session);
    // http's response emits 'drain'; http2's compatibility response leaves it to its stream.
    const writable = 'stream' in res ? res.stream : res;
    writable.on('drain', () => this.hub.drained(session));
    stream.on('close', () => this.hub.detach(session, transport));
  }

  private async poll(req: HttpRequest, res: HttpResponse, url: URL, identity: HubIdentity): Promise<void> {
    const address = this.admission?.clientAddress(req) ?? '';
    const id = url.searchParams.get('t') ?? '';
    if (!TRANSPORT_ID.test(id)) {
      replyJson(res, 400, { error: 't: 16-64 characters of A-Z a-z 0-9 _ -' });
      return;
    }
    const resume = this.sessionKey(url, res);
    if (resume === false) return;
    const existing = this.polling.get(id);
    if (existing !== undefined && !existing.transport.closed) {
      // A transport's later polls name its session by key: `t` alone is not proof enough.
      if (
        existing.session.user !== identity.user ||
        resume === null ||
        this.hub.sessionByKey(resume) !== existing.session
      ) {
        replyJson(res, 403, { error: 'that transport belongs to another session' });
        return;
      }
      this.wait(existing.transport, existing.session, responseWaiter(res));
      return;
    }
    const resumeId = resume === null ? null : this.hub.sessionKeys.idOf(resume);
    if (this.mesh !== null && resumeId !== null && this.hub.session(resumeId) === undefined) {
      // The transport may live on the node that holds the session: the GET waits there.
      const lines = await this.mesh.poll(resumeId, identity.user, id, this.pollTimeoutMs);
      if (lines === 'failed') {
        replyJson(res, 504, { error: 'the node holding the session did not answer' });
        return;
      }
      if (lines !== 'missing') {
        if (!res.writableEnded && !res.destroyed) answer(res, lines);
        return;
      }
      await this.mesh.takeOver(resumeId, identity);
    }
    if (res.writableEnded || res.destroyed) return;
    const transport = new PollingTransport(this.pollTimeoutMs, () => {
      if (this.polling.get(id)?.transport === transport) this.polling.delete(id);
    });
    let session: Session;
    try {
      const opened = openSession(this.hub, this.admission, transport, identity, resume, address);
      if (isRefusal(opened)) {
        transport.close(1013, opened.message);
        replyRefusal(res, opened);
        return;
      }
      session = opened;
    } catch (error) {
      replyJson(res, 503, { error: (error as Error).message }, false, { 'retry-after': '5' });
      return;
    }
    this.mesh?.claim(session);
    transport.attach(responseWaiter(res));
    this.hub.drained(session);
    if (!transport.closed) this.polling.set(id, { transport, session });
  }

  /** A GET (here, or forwarded from another node) waits on the transport. */
  private wait(transport: PollingTransport, session: Session, waiter: PollWaiter): void {
    this.hub.seen(session);
    transport.attach(waiter);
    this.hub.drained(session);
  }

  /** For the mesh: a poll forwarded from another node, for transport `t` of `session` held here. */
  private readonly remotePolls: RemotePolls = {
    poll: (t, session, reply) => {
      const existing = this.polling.get(t);
      if (existing === undefined || existing.transport.closed || existing.session !== session) return false;
      // The forwarding node answers its client, or fails it if this answer comes too late.
      this.wait(existing.transport, session, { answer: reply, onGone: () => undefined });
      return true;
    },
  };

  private async send(req: HttpRequest, res: HttpResponse, url: URL, identity: HubIdentity): Promise<void> {
    const key = this.sessionKey(url, res);
    if (key === false) return;
    // A key whose MAC fails names no session: answered as an unknown one.
    const id = (key === null ? null : this.hub.sessionKeys.idOf(key)) ?? '';
    const local = id === '' ? undefined : this.hub.session(id);
    if (local !== undefined && local.user !== identity.user) {
      replyJson(res, 403, { error: 'that session belongs to another user' }, true);
      return;
    }
    if (local === undefined && (this.mesh === null || id === '')) {
      this.unknownSession(res, true);
      return;
    }
    const body = await readTextBody(req, res, this.maxPostBytes, {}, this.bodyTimeoutMs);
    if (body === null) return;
    const lines = body.split('\n').filter((line) => line.trim() !== '');
    // Looked up again: the session may have ended, or moved here or away, while the body came.
    const session = this.hub.session(id);
    if (session !== undefined && session.user === identity.user) {
      for (const line of lines) this.hub.receive(session, line);
      // Backpressure: while its publishes queue for a slow broker, the client's next POST waits.
      await this.hub.publishesSettled(session, POST_SETTLE_MS);
      (res as ServerResponse).writeHead(204).end();
    } else if (this.mesh !== null && id !== '' && (await this.mesh.send(id, identity.user, lines))) {
      (res as ServerResponse).writeHead(204).end();
    } else {
      this.unknownSession(res, false);
    }
  }

  /** A request that would open a new session its address may not open now is answered 429 here. */
  private refuseNewSession(
    res: HttpResponse,
    identity: HubIdentity,
    resume: string | null,
    address: string,
  ): boolean {
    if (this.admission === null) return false;
    const existing = resume === null ? undefined : this.hub.sessionByKey(resume);
    if (existing !== undefined && existing.user === identity.user) return false;
    const refusal = this.admission.newSession(address);
    if (refusal === null) return false;
    replyRefusal(res, refusal);
    return true;
  }

  private unknownSession(res: HttpResponse, close: boolean): void {
    const message = 'that session is unknown or expired: reconnect';
    replyJson(res, 404, { type: 'error', code: 'SESSION_UNKNOWN', message }, close);
  }
}

function corsHeaders(origin: string | undefined): Record<string, string> {
  // Only reached for allowed origins (or when every origin is allowed).
  if (origin === undefined) return {};
  return { 'access-control-allow-origin': origin, vary: 'Origin' };
}

/** 429 (or 503) with Retry-After and the refusal's reason, as JSON. */
function replyRefusal(res: HttpResponse, refusal: Refusal): void {
  replyJson(
    res,
    refusal.status,
    { type: 'error', code: 'LIMIT', reason: refusal.reason, message: refusal.message },
    false,
    {
      'retry-after': String(refusal.retryAfterSeconds),
    },
  );
}
