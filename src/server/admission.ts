/**
 * Admission control: what one client address may hold or start, so that one address cannot lock
 * everyone else out (the attack: 100,000 new long-polling sessions in 4.7 s from one address,
 * then every new client refused for ~125 s). Limits per address, and the counters /metrics shows:
 *
 *   connections      TCP connections open at once           -> 429 + Retry-After (HTTP/1.1), else closed
 *   handshakes       WebSocket upgrades not yet answered     -> 503 + Retry-After
 *   session rate     new hub sessions per second (bucket)   -> 429 + Retry-After, or close 1013 on /ws
 *   sessions         hub sessions held (on a transport or waiting to be resumed) -> the same
 *
 * plus a node-wide cap on handshakes in flight (503). The hub's own `maxSessions` stays the node-wide
 * cap on sessions (503 / 1013).
 *
 * The address: the socket's peer, IPv4-mapped IPv6 folded to IPv4, and IPv6 taken by its /64 (one
 * host usually holds a whole /64). Behind a proxy, set `trustedProxies`: a request whose peer is one of
 * them is counted for the address its X-Forwarded-For names (the rightmost hop that is not a trusted
 * proxy); no other request's X-Forwarded-For is believed, and connections from a trusted proxy are not
 * limited per address (they carry many clients).
 *
 * Memory: an entry per address that holds something or whose bucket is not full; idle entries go at
 * the next sweep, and at most `maxTrackedAddresses` entries exist (past it, the oldest idle bucket goes).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HandshakeError } from '../protocol/errors.js';
import type { Hub, HubIdentity } from '../session/hub.js';
import type { Session } from '../session/session.js';
import type { HubTransport } from '../session/transport.js';

/** What `clientAddress` reads of a request (HTTP/1.1 or HTTP/2's compatibility API). */
export interface AddressedRequest {
  readonly socket?: { readonly remoteAddress?: string | undefined } | null;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface AdmissionOptions {
  /** TCP connections open at once from one address. Default 256. */
  maxConnectionsPerAddress?: number;
  /** WebSocket handshakes in flight from one address. Default 32. */
  maxHandshakesPerAddress?: number;
  /** WebSocket handshakes in flight in all. Default 1,024. */
  maxHandshakes?: number;
  /** New hub sessions per second from one address, on average. Default 10. */
  newSessionsPerSecond?: number;
  /** New hub sessions one address may open at once before the rate applies. Default 50. */
  newSessionsBurst?: number;
  /** Hub sessions held at once for one address. Default 1,000. */
  maxSessionsPerAddress?: number;
  /** Peers whose X-Forwarded-For is believed (exact addresses). Default none. */
  trustedProxies?: readonly string[];
  /** Addresses tracked at most. Default 100,000. */
  maxTrackedAddresses?: number;
  /** The clock, ms. Default performance.now. */
  now?: () => number;
}

const TOO_MANY_CONNECTIONS_TEXT = 'too many connections from your address: retry later\n';
const TOO_MANY_CONNECTIONS =
  'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 10\r\nContent-Type: text/plain\r\nConnection: close\r\n' +
  `Content-Length: ${Buffer.byteLength(TOO_MANY_CONNECTIONS_TEXT)}\r\n\r\n${TOO_MANY_CONNECTIONS_TEXT}`;

export type RefusalReason = 'connections' | 'handshakes' | 'session_rate' | 'sessions';

/** Why a request is refused, and when to come back. */
export interface Refusal {
  readonly reason: RefusalReason;
  readonly status: 429 | 503;
  readonly retryAfterSeconds: number;
  readonly message: string;
}

interface Entry {
  connections: number;
  handshakes: number;
  sessions: number;
  tokens: number;
  at: number;
}

export class Admission {
  readonly refused: Record<RefusalReason, number> = {
    connections: 0,
    handshakes: 0,
    session_rate: 0,
    sessions: 0,
  };
  private readonly entries = new Map<string, Entry>();
  private handshakes = 0;
  private readonly trusted: ReadonlySet<string>;
  private readonly maxConnections: number;
  private readonly maxHandshakesPer: number;
  private readonly maxHandshakes: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxSessions: number;
  private readonly maxTracked: number;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  /** The address each open hub session was counted for. */
  private readonly sessionAddress = new Map<string, string>();

  constructor(options: AdmissionOptions = {}) {
    this.maxConnections = options.maxConnectionsPerAddress ?? 256;
    this.maxHandshakesPer = options.maxHandshakesPerAddress ?? 32;
    this.maxHandshakes = options.maxHandshakes ?? 1024;
    this.rate = options.newSessionsPerSecond ?? 10;
    this.burst = options.newSessionsBurst ?? 50;
    this.maxSessions = options.maxSessionsPerAddress ?? 1000;
    this.maxTracked = options.maxTrackedAddresses ?? 100_000;
    this.trusted = new Set((options.trustedProxies ?? []).map(normalizeAddress));
    this.now = options.now ?? (() => performance.now());
    for (const [name, value] of Object.entries({
      maxConnectionsPerAddress: this.maxConnections,
      maxHandshakesPerAddress: this.maxHandshakesPer,
      maxHandshakes: this.maxHandshakes,
      newSessionsBurst: this.burst,
      maxSessionsPerAddress: this.maxSessions,
    })) {
      if (!Number.isInteger(value) || value < 1)
        throw new RangeError(`admission.${name} must be an integer >= 1`);
    }
    if (!(this.rate > 0)) throw new RangeError('admission.newSessionsPerSecond must be > 0');
    this.timer = setInterval(() => this.sweep(), 10_000);
    this.timer.unref();
  }

  /** Addresses tracked now. */
  get addresses(): number {
    return this.entries.size;
  }

  /** Handshakes in flight now. */
  get handshakesInFlight(): number {
    return this.handshakes;
  }

  /** The client address a request is counted for (see the header on proxies). */
  clientAddress(req: AddressedRequest): string {
    const peer = normalizeAddress(req.socket?.remoteAddress ?? '');
    if (!this.trusted.has(peer)) return peer;
    const forwarded = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeAddress(hops[i]!.trim());
      if (hop !== '' && !this.trusted.has(hop)) return hop;
    }
    return peer;
  }

  /**
   * A TCP connection was accepted: counted against its address until it closes. Past the limit it is
   * answered 429 (plain HTTP/1.1; `plain` false for TLS, where it is just closed) and closed.
   */
  connection(socket: Socket, plain: boolean): boolean {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    if (this.trusted.has(address)) return true;
    const entry = this.entry(address);
    if (entry.connections >= this.maxConnections) {
      this.refused.connections++;
      if (plain && socket.writable) {
        socket.end(TOO_MANY_CONNECTIONS);
        setTimeout(() => socket.destroy(), 1000).unref();
      } else {
        socket.destroy();
      }
      return false;
    }
    entry.connections++;
    socket.once('close', () => {
      entry.connections--;
      this.forgetIfIdle(address, entry);
    });
    return true;
  }

  /**
   * For WebSocketServer's `admit`: a HandshakeError (503 + Retry-After) past the handshakes in flight,
   * else the function to call when the handshake is over.
   */
  readonly admitHandshake = (req: IncomingMessage): HandshakeError | (() => void) => {
    const address = this.clientAddress(req);
    const entry = this.entry(address);
    if (this.handshakes >= this.maxHandshakes || entry.handshakes >= this.maxHandshakesPer) {
      this.refused.handshakes++;
      return new HandshakeError('WS_ERR_REFUSED', 503, 'too many WebSocket handshakes in flight: retry', {
        'Retry-After': '1',
      });
    }
    this.handshakes++;
    entry.handshakes++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.handshakes--;
      entry.handshakes--;
      this.forgetIfIdle(address, entry);
    };
  };

  /**
   * May `address` open a new hub session now? Null if so (then call `sessionOpened`), else why not.
   * Resuming a session is not a new one and is not limited here.
   */
  newSession(address: string): Refusal | null {
    const entry = this.entry(address);
    if (entry.sessions >= this.maxSessions) {
      this.refused.sessions++;
      return {
        reason: 'sessions',
        status: 429,
        retryAfterSeconds: 60,
        message: `${this.maxSessions} sessions already held for your address: retry later`,
      };
    }
    this.refill(entry);
    if (entry.tokens < 1) {
      this.refused.session_rate++;
      return {
        reason: 'session_rate',
        status: 429,
        retryAfterSeconds: Math.max(1, Math.ceil((1 - entry.tokens) / this.rate)),
        message: `more than ${this.rate} new sessions a second from your address: retry later`,
      };
    }
    return null;
  }

  /** A new session was opened for `address` (after `newSession` said yes): counted until it ends. */
  sessionOpened(id: string, address: string): void {
    const entry = this.entry(address);
    this.refill(entry);
    entry.tokens -= 1;
    entry.sessions++;
    this.sessionAddress.set(id, address);
  }

  /** A session ended (or moved to another node): its address holds one less. */
  sessionEnded(id: string): void {
    const address = this.sessionAddress.get(id);
    if (address === undefined) return;
    this.sessionAddress.delete(id);
    const entry = this.entries.get(address);
    if (entry === undefined) return;
    entry.sessions--;
    this.forgetIfIdle(address, entry);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private entry(address: string): Entry {
    let entry = this.entries.get(address);
    if (entry === undefined) {
      if (this.entries.size >= this.maxTracked) this.evictOne();
      entry = { connections: 0, handshakes: 0, sessions: 0, tokens: this.burst, at: this.now() };
      this.entries.set(address, entry);
    }
    return entry;
  }

  private refill(entry: Entry): void {
    const now = this.now();
    entry.tokens = Math.min(this.burst, entry.tokens + ((now - entry.at) / 1000) * this.rate);
    entry.at = now;
  }

  private isIdle(entry: Entry): boolean {
    if (entry.connections > 0 || entry.handshakes > 0 || entry.sessions > 0) return false;
    this.refill(entry);
    return entry.tokens >= this.burst;
  }

  private forgetIfIdle(address: string, entry: Entry): void {
    if (this.entries.get(address) === entry && this.isIdle(entry)) this.entries.delete(address);
  }

  /** Drop the oldest entry that holds nothing (its bucket is forgotten, i.e. full again). */
  private evictOne(): void {
    for (const [address, entry] of this.entries) {
      if (entry.connections === 0 && entry.handshakes === 0 && entry.sessions === 0) {
        this.entries.delete(address);
        return;
      }
    }
  }

  private sweep(): void {
    for (const [address, entry] of this.entries) this.forgetIfIdle(address, entry);
  }
}

/** IPv4-mapped IPv6 as IPv4; IPv6 by its /64 (the first four groups, expanded). */
export function normalizeAddress(address: string): string {
  const text = address.trim().toLowerCase();
  if (text.startsWith('::ffff:') && text.includes('.')) return text.slice(7);
  if (!text.includes(':')) return text;
  const [head = '', tail = ''] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = text.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * `hub.open` for a transport's request, with a new session counted against the client's address: a
 * Refusal when that address may not open one now (resuming its own session is never refused here).
 * Throws HubFullError as hub.open does.
 */
export function openSession(
  hub: Hub,
  admission: Admission | null,
  transport: HubTransport,
  identity: HubIdentity,
  resume: string | null,
  address: string,
): Session | Refusal {
  const existing = resume === null ? undefined : hub.sessionByKey(resume);
  if (admission !== null && (existing === undefined || existing.user !== identity.user)) {
    const refusal = admission.newSession(address);
    if (refusal !== null) return refusal;
  }
  const session = hub.open(transport, identity, resume);
  if (admission !== null && session !== existing) admission.sessionOpened(session.id, address);
  return session;
}

export function isRefusal(value: Session | Refusal): value is Refusal {
  return 'reason' in value && 'retryAfterSeconds' in value;
}
