/**
 * Client HTTP/2 sessions shared by origin (and `tls` options object), counted by their users and
 * closed with the last of them. EventSource and the WebSocket client (RFC 8441) each keep one pool.
 */
import type { ClientHttp2Session } from 'node:http2';

const tlsKeys = new WeakMap<object, number>();
let nextTlsKey = 1;

/** The pool key of an HTTP origin and the `tls` options object its requests use. */
export function sessionKey(origin: string, tls: object | undefined): string {
  if (tls === undefined) return origin;
  let key = tlsKeys.get(tls);
  if (key === undefined) {
    key = nextTlsKey++;
    tlsKeys.set(tls, key);
  }
  return `${origin}|${key}`;
}

export class SessionPool {
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #users = new Map<ClientHttp2Session, number>();

  /** The open session for `key`, if any. */
  get(key: string): ClientHttp2Session | undefined {
    const session = this.#sessions.get(key);
    return session !== undefined && !session.closed && !session.destroyed ? session : undefined;
  }

  /** Share `session` under `key` until it closes, fails or is told to go away. */
  add(key: string, session: ClientHttp2Session): ClientHttp2Session {
    this.#sessions.set(key, session);
    const forget = () => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    };
    session.once('close', forget);
    session.once('error', forget);
    session.once('goaway', forget);
    return session;
  }

  /** Whether anyone holds `session`. */
  inUse(session: ClientHttp2Session): boolean {
    return this.#users.has(session);
  }

  hold(session: ClientHttp2Session): void {
    this.#users.set(session, (this.#users.get(session) ?? 0) + 1);
  }

  /** Let go of `session`; the last user closes it. */
  release(session: ClientHttp2Session): void {
    const left = (this.#users.get(session) ?? 1) - 1;
    if (left > 0) {
      this.#users.set(session, left);
      return;
    }
    this.#users.delete(session);
    for (const [key, s] of this.#sessions) if (s === session) this.#sessions.delete(key);
    session.close();
  }
}
