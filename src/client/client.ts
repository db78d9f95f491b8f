/**
 * The hub client (browser and Node): one connection to a Conduit hub over WebSocket, SSE+POST or
 * long-polling, whichever gets through, with the same delivery model on each (docs/protocol.md).
 *
 *   const c = connect('https://example.com', { token });
 *   const room = c.subscribe('chat.lobby', (m) => show(m.data), { presence: true });
 *   await c.publish('chat.lobby', 'hello');      // resolves on the server's ack
 *   c.on('transport', (kind) => ...);
 *
 * Transports are tried in order (WebSocket, SSE, long-polling by default): one that fails before the
 * server's `connected`, or takes longer than `connectTimeoutMs`, gives way to the next. Once one works
 * it is kept; when it drops, the client reconnects (exponential backoff with jitter), names its
 * session, and resubscribes every channel from the position it holds, so that nothing is lost or
 * repeated; publishes not yet acknowledged are sent again with the same cmid (the server drops the
 * duplicates). A server silent for longer than its own liveness rule (2 x ping + 10 s) is dead; a
 * timer tick that came late (a throttled background tab) is not taken as a death.
 */
import { Emitter } from './emitter.js';
import {
  HubError,
  type HubMessage,
  type Member,
  type Position,
  Subscription,
  type SubscriptionHost,
} from './subscription.js';
import type {
  ClientTransport,
  EventSourceConstructor,
  FetchFunction,
  TransportContext,
  TransportEnd,
  TransportHandlers,
  TransportKind,
  WebSocketConstructor,
} from './transport.js';
import { openPolling, randomId } from './transport-polling.js';
import { openSse } from './transport-sse.js';
import { openWebSocket } from './transport-websocket.js';

export interface ConnectOptions {
  /** Transports to try, in order. Default: websocket, sse, polling. */
  transports?: readonly TransportKind[];
  /** A signed token (JWT), or a function giving one (called before every connection). */
  token?: string | (() => string | Promise<string>);
  /** A transport that has not delivered `connected` by then gives way to the next, ms. Default 2,000. */
  connectTimeoutMs?: number;
  /** Reconnection delays: first, and largest, ms (doubling, with jitter). Default 250 and 10,000. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /**
   * The server is dead after 2 x its ping interval + this long without a message from it, ms (the
   * server's own rule for clients). Default 10,000.
   */
  livenessGraceMs?: number;
  /** Publishes waiting for their ack, at most (more are refused with LIMIT). Default 1,000. */
  maxPendingPublishes?: number;
  /**
   * The key of a session to resume (another client's `sessionKey`, e.g. when switching transports by
   * hand). Keep it secret: it is all it takes to act as that session. The public `session` id does not
   * resume anything.
   */
  session?: string;
  /** Paths on the server. Default /ws, /hub/sse, /hub/poll, /hub/send. */
  paths?: Partial<TransportContext['paths']>;
  /** Implementations for Node or tests; default: the globals. */
  WebSocket?: WebSocketConstructor;
  EventSource?: EventSourceConstructor;
  fetch?: FetchFunction;
}

export type ClientState = 'connecting' | 'connected' | 'closed';

export type ClientEvents = {
  state: [state: ClientState];
  /** The transport in use changed (or was first chosen). */
  transport: [kind: TransportKind];
  /** The server's `connected`: a new or resumed session. */
  connected: [info: { session: string; resumed: boolean; transport: TransportKind; node?: string }];
  /** The transport dropped (the client reconnects unless the token was refused). */
  disconnected: [info: TransportEnd];
  /** A failure that is not any one request's: TOKEN_INVALID, a refused transport... */
  error: [error: HubError];
};

interface PendingPublish {
  id: number;
  channel: string;
  data: string;
  cmid: string;
  resolve: (position: Position & { channel: string }) => void;
  reject: (error: HubError) => void;
}

interface PendingRequest {
  kind: 'presence' | 'unsubscribe';
  channel: string;
  resolve: (members: Member[]) => void;
  reject: (error: HubError) => void;
}

type ServerMessage = { type: string; [field: string]: unknown };

/** A publish the server could not take (UNAVAILABLE) is sent again after this long, ms. */
const UNAVAILABLE_RETRY_MS = 1000;

/** Presence requests and unsubscribes waiting for their answer, at most. */
const MAX_PENDING_REQUESTS = 1000;

export class ConduitClient extends Emitter<ClientEvents> implements SubscriptionHost {
  state: ClientState = 'connecting';
  /** The session id, once connected: public (it is in messages' `from` and in presence). */
  session: string | null = null;
  /** What resumes the session, once connected: secret, only this client has it. */
  sessionKey: string | null = null;
  private current: { kind: TransportKind; transport: ClientTransport; connected: boolean } | null = null;
  private choice = 0;
  private failures = 0;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly publishes = new Map<string, PendingPublish>();
  private readonly requests = new Map<number, PendingRequest>();
  private nextId = 1;
  private nextCmid = 1;
  private readonly cmidPrefix = randomId().slice(0, 12);
  private timers = { connect: 0 as unknown, reconnect: 0 as unknown, liveness: 0 as unknown };
  private lastReceived = 0;
  private lastCheck = 0;
  private livenessMs = 60_000;
  private checkEveryMs = 5_000;
  private readonly transports: readonly TransportKind[];
  private readonly context: TransportContext;

  constructor(
    url: string,
    private readonly options: ConnectOptions = {},
  ) {
    super();
    this.transports = options.transports ?? ['websocket', 'sse', 'polling'];
    this.sessionKey = options.session ?? null;
    if (this.transports.length === 0) throw new RangeError('transports: at least one');
    const location = (globalThis as { location?: { href: string } }).location;
    const base = new URL(url, location?.href).href.replace(/\/+$/, '');
    const g = globalThis as { WebSocket?: WebSocketConstructor; EventSource?: EventSourceConstructor };
    this.context = {
      base,
      query: () => this.query(),
      WebSocket: options.WebSocket ?? g.WebSocket,
      EventSource: options.EventSource ?? g.EventSource,
      fetch: options.fetch ?? (globalThis.fetch.bind(globalThis) as unknown as FetchFunction),
      paths: { ws: '/ws', sse: '/hub/sse', poll: '/hub/poll', send: '/hub/send', ...options.paths },
    };
    void this.open();
  }

  /** The transport in use now, or null between two. */
  get transport(): TransportKind | null {
    return this.current?.connected === true ? this.current.kind : null;
  }

  /**
   * Receive the channel's messages. `since` resumes from a position kept by the application (for
   * example across page loads); without it, messages start from now.
   */
  subscribe(
    channel: string,
    onMessage?: (message: HubMessage) => void,
    options: { presence?: boolean; since?: Position } = {},
  ): Subscription {
    if (this.subscriptions.has(channel))
      throw new HubError('ALREADY_SUBSCRIBED', `already subscribed to ${channel}`);
    const sub = new Subscription(channel, options.presence === true, options.since ?? null, this);
    if (onMessage !== undefined) sub.on('message', onMessage);
    this.subscriptions.set(channel, sub);
    this.sendSubscribe(sub);
    return sub;
  }

  /** Publish; resolves with the message's position once the server has it (its ack). */
  publish(channel: string, data: string): Promise<Position & { channel: string }> {
    if (this.state === 'closed') return Promise.reject(new HubError('CLOSED', 'the client is closed'));
    if (this.publishes.size >= (this.options.maxPendingPublishes ?? 1000)) {
      return Promise.reject(new HubError('LIMIT', 'too many publishes waiting for their ack'));
    }
    return new Promise((resolve, reject) => {
      const cmid = `${this.cmidPrefix}-${this.nextCmid++}`;
      const pending: PendingPublish = { id: this.nextId++, channel, data, cmid, resolve, reject };
      this.publishes.set(cmid, pending);
      this.sendPublish(pending);
    });
  }

  /** @internal (Subscription.unsubscribe) */
  unsubscribe(sub: Subscription): Promise<void> {
    if (this.subscriptions.get(sub.channel) !== sub) return Promise.resolve();
    this.subscriptions.delete(sub.channel);
    sub.state = 'closed';
    if (!this.live) return Promise.resolve();
    return new Promise((resolve) => {
      const id = this.nextId++;
      const done = () => resolve();
      this.requests.set(id, { kind: 'unsubscribe', channel: sub.channel, resolve: done, reject: done });
      this.send({ type: 'unsubscribe', id, channel: sub.channel });
    });
  }

  /** @internal (Subscription.members) */
  members(channel: string): Promise<Member[]> {
    if (this.state === 'closed') return Promise.reject(new HubError('CLOSED', 'the client is closed'));
    if (this.requests.size >= MAX_PENDING_REQUESTS) {
      return Promise.reject(new HubError('LIMIT', 'too many requests waiting for an answer'));
    }
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.requests.set(id, { kind: 'presence', channel, resolve, reject });
      if (this.live) this.send({ type: 'presence', id, channel });
    });
  }

  /** Drop the current transport as if the network failed (the client resumes): for demos and tests. */
  drop(): void {
    const current = this.current;
    if (current === null) return;
    current.transport.close();
    this.lost({ code: 1006, reason: 'dropped by the application', unauthorized: false });
  }

  /**
   * Close for good: pending publishes are refused with CLOSED. The server ends the session at once
   * (presence leaves) unless `keepSession`, for another client that resumes it (`options.session`).
   */
  close(options: { keepSession?: boolean } = {}): void {
    if (this.state === 'closed') return;
    this.setState('closed');
    this.clearTimers();
    this.current?.transport.close(this.live && options.keepSession !== true);
    this.current = null;
    const closed = new HubError('CLOSED', 'the client is closed');
    for (const p of this.publishes.values()) p.reject(closed);
    for (const r of this.requests.values()) r.reject(closed);
    this.publishes.clear();
    this.requests.clear();
  }

  // Connection --------------------------------------------------------------------------------------

  private token: string | undefined;

  private get live(): boolean {
    return this.current?.connected === true;
  }

  private query(): URLSearchParams {
    const q = new URLSearchParams();
    if (this.sessionKey !== null) q.set('session', this.sessionKey);
    if (this.token !== undefined) q.set('token', this.token);
    return q;
  }

  private async open(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('connecting');
    const source = this.options.token;
    try {
      this.token = typeof source === 'function' ? await source() : source;
    } catch (error) {
      this.emit('error', new HubError('TOKEN_INVALID', `the token function failed: ${String(error)}`));
      this.retry(false);
      return;
    }
    // close() may have come while the token function ran.
    if ((this.state as ClientState) === 'closed') return;
    const kind = this.transports[this.choice % this.transports.length]!;
    const handlers: TransportHandlers = {
      message: (text) => this.received(attempt, text),
      end: (info) => {
        if (this.current === attempt) this.lost(info);
      },
    };
    const attempt: { kind: TransportKind; transport: ClientTransport; connected: boolean } = {
      kind,
      transport: { kind, send: () => undefined, close: () => undefined },
      connected: false,
    };
    this.current = attempt;
    try {
      const open = kind === 'websocket' ? openWebSocket : kind === 'sse' ? openSse : openPolling;
      attempt.transport = open(this.context, handlers);
    } catch (error) {
      this.emit('error', new HubError('TRANSPORT_UNAVAILABLE', `${kind}: ${(error as Error).message}`));
      this.current = null;
      this.retry(false);
      return;
    }
    this.timers.connect = setTimeout(() => {
      if (this.current !== attempt || attempt.connected) return;
      attempt.transport.close();
      this.lost({ code: 1006, reason: `${kind}: no answer in time`, unauthorized: false });
    }, this.options.connectTimeoutMs ?? 2000);
  }

  /** The transport ended (or failed to connect). */
  private lost(info: TransportEnd): void {
    const attempt = this.current;
    if (attempt === null || this.state === 'closed') return;
    this.current = null;
    clearTimeout(this.timers.connect as number);
    clearTimeout(this.timers.liveness as number);
    const wasConnected = attempt.connected;
    if (wasConnected) this.emit('disconnected', info);
    if (info.unauthorized) {
      this.emit('error', new HubError('TOKEN_INVALID', 'the server refused the token'));
      // A token function may give a fresh one: try again (with backoff); a fixed token will not change.
      if (typeof this.options.token !== 'function') {
        this.close();
        return;
      }
    }
    this.retry(wasConnected);
  }

  /** Reconnect: the same transport after a working one dropped, the next one after a failed attempt. */
  private retry(wasConnected: boolean): void {
    if (this.state === 'closed') return;
    if (wasConnected) {
      this.failures = 0;
    } else {
      this.failures++;
      this.choice++;
    }
    this.setState('connecting');
    // A failed transport gives way to the next at once; a full round of failures waits (backoff).
    const roundDone = !wasConnected && this.choice % this.transports.length === 0;
    const min = this.options.backoffMinMs ?? 250;
    const max = this.options.backoffMaxMs ?? 10_000;
    const exponent = Math.floor(this.failures / this.transports.length);
    const delay =
      wasConnected || roundDone ? Math.min(max, min * 2 ** exponent) * (0.5 + Math.random() / 2) : 0;
    this.timers.reconnect = setTimeout(() => void this.open(), delay);
  }

  private received(attempt: { kind: TransportKind; connected: boolean }, text: string): void {
    if (this.current !== attempt) return;
    this.lastReceived = Date.now();
    let m: ServerMessage;
    try {
      m = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    if (m.type === 'connected') {
      attempt.connected = true;
      clearTimeout(this.timers.connect as number);
      this.connected(attempt.kind, m);
      return;
    }
    if (!attempt.connected) {
      if (m.type === 'error' && m.code === 'TOKEN_INVALID') {
        this.current?.transport.close();
        this.lost({ code: 4001, reason: String(m.message), unauthorized: true });
      }
      return;
    }
    this.dispatch(m);
  }

  private connected(kind: TransportKind, m: ServerMessage): void {
    const asked =
      this.sessionKey === null ? null : this.sessionKey.slice(0, this.sessionKey.lastIndexOf('.'));
    const resumed = m.resumed === true && m.session === asked;
    this.session = String(m.session);
    this.sessionKey = typeof m.key === 'string' ? m.key : null;
    this.failures = 0;
    const ping = typeof m.ping === 'number' && m.ping > 0 ? m.ping : 25_000;
    this.livenessMs = 2 * ping + (this.options.livenessGraceMs ?? 10_000);
    this.checkEveryMs = Math.max(50, Math.min(5_000, ping / 2));
    this.lastCheck = Date.now();
    this.armLiveness();
    this.setState('connected');
    this.emit('transport', kind);
    const info: ClientEvents['connected'][0] = { session: this.session, resumed, transport: kind };
    if (typeof m.node === 'string') info.node = m.node;
    this.emit('connected', info);
    // Resync: every channel from the position held, then what the server has not answered.
    for (const sub of this.subscriptions.values()) this.sendSubscribe(sub);
    for (const [id, r] of [...this.requests]) {
      if (r.kind === 'presence') this.send({ type: 'presence', id, channel: r.channel });
      else if (resumed) this.send({ type: 'unsubscribe', id, channel: r.channel });
      else {
        this.requests.delete(id);
        r.resolve([]);
      }
    }
    for (const p of this.publishes.values()) this.sendPublish(p);
  }

  private dispatch(m: ServerMessage): void {
    switch (m.type) {
      case 'message': {
        const sub = this.subscriptions.get(String(m.channel));
        if (sub === undefined) return;
        const from = m.from as Member | null;
        const message: HubMessage = {
          channel: sub.channel,
          data: String(m.data),
          epoch: String(m.epoch),
          offset: Number(m.offset),
          from,
        };
        if (sub.deliver(message) === false) this.sendSubscribe(sub);
        return;
      }
      case 'subscribed': {
        const sub = this.subscriptions.get(String(m.channel));
        if (sub === undefined || sub.request !== m.id) return;
        sub.subscribed(
          { epoch: String(m.epoch), offset: Number(m.offset) },
          m.recovered === true,
          m.reason as 'trimmed' | 'epoch' | undefined,
        );
        return;
      }
      case 'ack': {
        for (const [cmid, p] of this.publishes) {
          if (p.id !== m.id) continue;
          this.publishes.delete(cmid);
          p.resolve({ channel: p.channel, epoch: String(m.epoch), offset: Number(m.offset) });
          return;
        }
        return;
      }
      case 'gap': {
        const sub = this.subscriptions.get(String(m.channel));
        if (sub !== undefined) this.sendSubscribe(sub);
        return;
      }
      case 'presence':
      case 'unsubscribed': {
        const r = this.requests.get(Number(m.id));
        if (r === undefined) return;
        this.requests.delete(Number(m.id));
        r.resolve((m.members as Member[] | undefined) ?? []);
        return;
      }
      case 'join':
      case 'leave':
        this.subscriptions.get(String(m.channel))?.member(m.type, m.member as Member);
        return;
      case 'ping':
        this.send({ type: 'pong' });
        return;
      case 'error':
        this.failed(m);
        return;
      case 'disconnect': {
        const current = this.current;
        if (current === null) return;
        current.transport.close();
        const code = Number(m.code);
        this.lost({ code, reason: String(m.reason), unauthorized: code === 4001 });
        return;
      }
    }
  }

  /** An error answer: to the request it names, or to the client. */
  private failed(m: ServerMessage): void {
    const error = new HubError(String(m.code), String(m.message));
    if (typeof m.id !== 'number') {
      if (m.code !== 'SESSION_UNKNOWN') this.emit('error', error);
      return;
    }
    for (const [cmid, p] of this.publishes) {
      if (p.id !== m.id) continue;
      if (m.code === 'UNAVAILABLE') {
        // The server's broker failed it: try again in a second (and on any new connection).
        setTimeout(() => {
          if (this.publishes.get(cmid) === p && this.live) this.sendPublish(p);
        }, UNAVAILABLE_RETRY_MS);
        return;
      }
      this.publishes.delete(cmid);
      p.reject(error);
      return;
    }
    for (const sub of this.subscriptions.values()) {
      if (sub.request !== m.id) continue;
      if (m.code === 'UNAVAILABLE') {
        // The server's broker could not answer (Redis away): the subscription stays, asked again.
        const request = sub.request;
        setTimeout(() => {
          if (this.subscriptions.get(sub.channel) === sub && sub.request === request) this.sendSubscribe(sub);
        }, UNAVAILABLE_RETRY_MS);
        return;
      }
      this.subscriptions.delete(sub.channel);
      sub.fail(error);
      return;
    }
    const r = this.requests.get(m.id);
    if (r !== undefined) {
      this.requests.delete(m.id);
      if (r.kind === 'unsubscribe') r.resolve([]);
      else r.reject(error);
    }
  }

  // Sending -----------------------------------------------------------------------------------------

  private send(message: Record<string, unknown>): void {
    if (this.live) this.current!.transport.send(JSON.stringify(message));
  }

  private sendSubscribe(sub: Subscription): void {
    if (!this.live) return;
    sub.request = this.nextId++;
    this.send({
      type: 'subscribe',
      id: sub.request,
      channel: sub.channel,
      since: sub.position,
      presence: sub.presence,
    });
  }

  private sendPublish(p: PendingPublish): void {
    if (!this.live) return;
    p.id = this.nextId++;
    this.send({ type: 'publish', id: p.id, channel: p.channel, data: p.data, cmid: p.cmid });
  }

  // Liveness ----------------------------------------------------------------------------------------

  private armLiveness(): void {
    clearTimeout(this.timers.liveness as number);
    this.timers.liveness = setTimeout(() => this.checkLiveness(), this.checkEveryMs);
  }

  private checkLiveness(): void {
    if (!this.live) return;
    const now = Date.now();
    const late = now - this.lastCheck > 3 * this.checkEveryMs;
    this.lastCheck = now;
    if (late) {
      // This tick came late (a throttled or frozen tab): what arrived meanwhile may not have been
      // handled yet. Ask the server for a sign of life and judge at the next tick.
      this.lastReceived = Math.max(this.lastReceived, now - this.livenessMs + 2 * this.checkEveryMs);
      this.send({ type: 'ping' });
    } else if (now - this.lastReceived > this.livenessMs) {
      const current = this.current!;
      current.transport.close();
      this.lost({ code: 4009, reason: 'no message from the server in time', unauthorized: false });
      return;
    }
    this.armLiveness();
  }

  private clearTimers(): void {
    clearTimeout(this.timers.connect as number);
    clearTimeout(this.timers.reconnect as number);
    clearTimeout(this.timers.liveness as number);
  }

  private setState(state: ClientState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }
}

/** Connect to a Conduit hub at `url` (its base: http(s)://host:port). */
export function connect(url: string, options?: ConnectOptions): ConduitClient {
  return new ConduitClient(url, options);
}
