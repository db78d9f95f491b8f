/**
 * The hub: sessions, channels, one delivery model whatever the transport. No sockets here: transports
 * come in through HubTransport (transport.ts), publications and presence go through the broker port
 * (broker.ts), the clock is injected.
 *
 * Delivery. Every subscription holds the position (epoch, offset) of the last publication queued for
 * its client. A publication is queued only if it is the next one (offset + 1, same epoch); an older one
 * is a duplicate and skipped; a later one means some were missed (a broker that lost a message) and the
 * hub recovers the missing ones from the history first. A subscribe names the client's position and
 * gets exactly what follows it (or `recovered: false` and what is kept); live publications that arrive
 * meanwhile are held and delivered after. Each publication is encoded once for all local subscribers.
 *
 * Client publishes carry a client message id (cmid); the broker remembers it, so a retry (after a
 * reconnect, on any transport) answers the first publish's ack and delivers nothing twice.
 */
import {
  type ClientMessage,
  encodeServerMessage,
  HubCloseCode,
  type HubErrorCode,
  type HubProtocolError,
  PROTOCOL_VERSION,
  parseClientMessage,
  type ServerMessage,
  type WireMember,
} from '../protocol/hub/messages.js';
import { Histogram } from '../util/histogram.js';
import type { Broker, PresenceMember, PublishOptions } from './broker.js';
import { MemoryBroker } from './brokers/memory.js';
import type { HistoryLimits, Publication, Recovery } from './history.js';
import { PublishGate, type PublishGateLimits } from './publish-gate.js';
import { type QueuePolicyOptions, type SentTotals, Session, type Subscription } from './session.js';
import { SessionKeys } from './session-keys.js';
import { type HubTransport, Outbound, type TransportKind } from './transport.js';

export type HubAction = 'subscribe' | 'publish' | 'presence';

export interface AuthorizeRequest {
  session: { id: string; user: string | null };
  channel: string;
  action: HubAction;
}

/** The clock and the one repeating timer the hub needs (injected: tests drive them). */
export interface HubClock {
  now(): number;
  every(ms: number, tick: () => void): { cancel(): void };
}

export interface HubOptions {
  /** Where publications and presence go. Default: an in-memory broker (one process). */
  broker?: Broker;
  /** History bounds per channel for the default in-memory broker (history.ts). */
  history?: HistoryLimits;
  /** All histories together, for the default in-memory broker, bytes (brokers/memory.ts). Default 256 MiB. */
  maxHistoryBytes?: number;
  /** Asked before every subscribe, publish and presence request; false refuses it with FORBIDDEN. */
  authorize?: (request: AuthorizeRequest) => boolean | Promise<boolean>;
  /** Largest client message (JSON text), bytes. Default 64 KiB. */
  maxMessageBytes?: number;
  /**
   * Sessions held at most, on a transport or waiting for their client to come back. Past it a new
   * session is refused (HubFullError: the transports answer 503, or close 1013). Default 100,000.
   */
  maxSessions?: number;
  /** Subscriptions per session. Default 1,000. */
  maxSubscriptions?: number;
  /**
   * Client publishes waiting for the broker (a slow or unreachable Redis): how many are with it at
   * once, per session and in all, and how many more may queue behind them, in order (publish-gate.ts).
   * With a quarter of its queue's bound queued (at most 100), the session's client is held back: its
   * transport stops reading (`pauseInput`) and its POSTs wait (`publishesSettled`) until half of that.
   * A publish that cannot even be queued closes the session's transport with 4013 and is dropped, like
   * every publish of that session until its client is back on a new transport: the client reconnects
   * (with backoff) and sends its unacknowledged publishes again in order. Defaults: 100 in flight per
   * session, 10,000 in all, 1,000 queued per session (the Conduit client's own bound on publishes
   * awaiting their ack), 64 Mi of queued data.
   */
  publishLimits?: PublishGateLimits;
  /** The per-session queue's bounds and policy (session.ts). */
  queue?: Partial<QueuePolicyOptions>;
  /** The server sends a ping after this long without sending anything, ms. Default 25 s. */
  pingIntervalMs?: number;
  /**
   * A transport on which nothing (no message, no pong) came from the client for this long is closed
   * (4009), ms. Default 2 x pingIntervalMs + 10 s: a background tab whose timers are throttled to
   * once a minute still answers in time.
   */
  livenessTimeoutMs?: number;
  /** How long a session without a transport is kept for its client to come back, ms. Default 60 s. */
  sessionTtlMs?: number;
  /** Bad messages in a row before the transport is closed with 4002. Default 20. */
  maxStrikes?: number;
  clock?: HubClock;
  newSessionId?: () => string;
  /**
   * The secret session keys are made with (session-keys.ts): at least 16 bytes. Default: random per
   * process. Nodes that share sessions need the same one (`conduit serve --redis` agrees on one in Redis).
   */
  sessionSecret?: Uint8Array | string;
  /** This node's name, sent in `connected` (scale-out: which node a client is on). */
  node?: string;
}

/** Who the client is, as the server established it (from a verified token, or anonymous). */
export interface HubIdentity {
  user: string | null;
  /** Channel patterns the token allows ('news', 'chat.*'), or null for no restriction. */
  channels: readonly string[] | null;
}

export interface HubStats {
  sessions: number;
  /** Sessions on each kind of transport now. */
  transports: Record<TransportKind, number>;
  messagesIn: number;
  /** Server messages written to transports, and their size (UTF-16 code units of JSON, about bytes). */
  messagesOut: number;
  unitsOut: number;
  /** Round trips of publishes to the broker, ms. */
  brokerLatency: Histogram;
  publications: number;
  resumes: number;
  gaps: number;
  dropped: number;
  slowDisconnects: number;
  /** Client publishes with the broker now, queued behind them, and transports closed (4013) because too many waited. */
  publishesInFlight: number;
  publishesQueued: number;
  publishesWaitingDisconnects: number;
}

const systemClock: HubClock = {
  now: () => Date.now(),
  every(ms, tick) {
    const timer = setInterval(tick, ms);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  },
};

interface SubscriptionRuntime {
  /** Publications that arrived while the subscription was recovering. */
  held: Publication[];
  overflowed: boolean;
  /** Recovered publications not yet queued (catch-up goes as fast as the transport takes it). */
  backlog: readonly Publication[];
  next: number;
}

/** The hub holds `maxSessions` already: a new one is refused (try again later). */
export class HubFullError extends Error {
  override readonly name = 'HubFullError';
}

/** Live publications held for one recovering subscription at most; past it, recover once more. */
const MAX_HELD = 10_000;
/**
 * A catch-up (the publications a subscribe or a recovery brings) is queued while the session's queue
 * holds fewer than this many messages, and goes on as the transport drains it: a long catch-up never
 * overflows the queue (which would drop it and start over, again and again on a slow transport).
 */
const CATCH_UP_WINDOW = 1000;

export class Hub {
  readonly broker: Broker;
  /** Makes and checks the keys that resume sessions (the id alone is public). */
  readonly sessionKeys: SessionKeys;
  /** This node's name in `connected` (settable once the server knows its address). */
  node: string | undefined;
  private readonly sessions = new Map<string, Session>();
  /** Local subscribers per channel. */
  private readonly local = new Map<string, Set<Session>>();
  private readonly runtime = new WeakMap<Subscription, SubscriptionRuntime>();
  private readonly authorize: HubOptions['authorize'];
  private readonly maxMessageBytes: number;
  private readonly maxSubscriptions: number;
  private readonly maxSessions: number;
  private readonly queue: QueuePolicyOptions;
  private readonly pingInterval: number;
  private readonly liveness: number;
  private readonly ttl: number;
  private readonly maxStrikes: number;
  private readonly clock: HubClock;
  private readonly newSessionId: () => string;
  private readonly timer: { cancel(): void };
  private readonly counters = {
    messagesIn: 0,
    publications: 0,
    resumes: 0,
    gaps: 0,
    dropped: 0,
    slow: 0,
    waitingDisconnects: 0,
  };
  /** Client publishes waiting for the broker: bounded, each session's in order. */
  private readonly publishGate: PublishGate<Session>;
  /** Sessions whose transport was closed with 4013: their publishes are dropped until they are back. */
  private readonly refusingPublishes = new WeakSet<Session>();
  /** Sessions whose client is held back (reading paused, or its POST waiting) while its publishes queue. */
  private readonly heldBack = new WeakMap<Session, (() => void)[]>();
  private readonly sent: SentTotals = { messages: 0, units: 0 };
  private readonly brokerLatency = new Histogram();
  private readonly endedHandlers: ((session: Session, released: boolean) => void)[] = [];

  constructor(options: HubOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.broker =
      options.broker ??
      new MemoryBroker({
        now: () => this.clock.now(),
        history: options.history,
        maxHistoryBytes: options.maxHistoryBytes,
      });
    this.authorize = options.authorize;
    this.maxMessageBytes = options.maxMessageBytes ?? 64 * 1024;
    this.maxSubscriptions = options.maxSubscriptions ?? 1000;
    this.maxSessions = options.maxSessions ?? 100_000;
    this.publishGate = new PublishGate(options.publishLimits, (session, queued) =>
      this.shrunk(session, queued),
    );
    this.queue = {
      maxMessages: options.queue?.maxMessages ?? 10_000,
      maxUnits: options.queue?.maxUnits ?? 8 * 1024 * 1024,
      policy: options.queue?.policy ?? 'drop-oldest',
    };
    this.pingInterval = options.pingIntervalMs ?? 25_000;
    this.liveness = options.livenessTimeoutMs ?? 2 * this.pingInterval + 10_000;
    this.ttl = options.sessionTtlMs ?? 60_000;
    this.maxStrikes = options.maxStrikes ?? 20;
    this.newSessionId = options.newSessionId ?? (() => globalThis.crypto.randomUUID());
    this.sessionKeys = new SessionKeys(options.sessionSecret);
    this.node = options.node;
    this.broker.onPublication((publication) => this.fanOut(publication));
    this.broker.onPresence((channel, change, member) => this.presenceChanged(channel, change, member));
    this.broker.onResync?.(() => this.resync());
    const every = Math.max(10, Math.min(this.pingInterval, this.liveness, this.ttl) / 2);
    this.timer = this.clock.every(every, () => this.sweep());
  }

  /**
   * A client connected on `transport`. With the key of a session it had (`resume`, from its
   * `connected`), and the same user, it gets that session back; otherwise a new one (with
   * SESSION_UNKNOWN first if it asked for one). A session's id alone resumes nothing: it is public.
   * Throws HubFullError when a new session would pass `maxSessions`.
   */
  open(transport: HubTransport, identity: HubIdentity, resume: string | null = null): Session {
    const now = this.clock.now();
    const id = resume === null ? null : this.sessionKeys.idOf(resume);
    let session = id === null ? undefined : this.sessions.get(id);
    if (session !== undefined && session.user !== identity.user) session = undefined;
    let resumed = false;
    if (session !== undefined) {
      const old = session.transport;
      session.transport = null;
      if (old !== null && old !== transport) old.close(1000, 'replaced by a new transport');
      // What was queued for the old transport would come before `connected`, and after a hole (what
      // was in flight on the old one). The client resubscribes from the positions it holds (protocol):
      // until then nothing of its channels is queued; a lost ack comes back when it retries the cmid.
      session.queue.clear();
      for (const sub of session.subscriptions.values()) sub.state = 'gapped';
      session.detachedAt = null;
      session.lastSeen = now;
      this.refusingPublishes.delete(session);
      // A new transport reads; if the queue is still long, the next publish holds it back again.
      const waiters = this.heldBack.get(session);
      this.heldBack.delete(session);
      for (const resume of waiters ?? []) resume();
      resumed = true;
      this.counters.resumes++;
    } else {
      if (this.sessions.size >= this.maxSessions) {
        throw new HubFullError(`${this.maxSessions} sessions already: try again later`);
      }
      session = this.newSession(this.newSessionId(), identity, now);
      this.sessions.set(session.id, session);
    }
    session.transport = transport;
    const hello: ServerMessage = {
      type: 'connected',
      v: PROTOCOL_VERSION,
      session: session.id,
      key: this.sessionKeys.keyFor(session.id),
      resumed,
      ping: this.pingInterval,
      transport: transport.kind,
    };
    if (this.node !== undefined) hello.node = this.node;
    if (resume !== null && !resumed) {
      this.reply(session, {
        type: 'error',
        code: 'SESSION_UNKNOWN',
        message: 'that session is unknown or expired: this is a new one',
      });
    }
    this.reply(session, hello);
    return session;
  }

  /**
   * The client is done with its session (a `bye`, or its transport closed cleanly: WebSocket 1000 or
   * 1001): presence leaves now, the session is forgotten, its transport is closed.
   */
  finish(session: Session): void {
    if (this.sessions.get(session.id) !== session) return;
    const transport = session.transport;
    session.transport = null;
    this.end(session);
    transport?.close(1000, 'session ended');
  }

  /** The transport went away (closed, failed, a long-poll that was not renewed in time). */
  detach(session: Session, transport: HubTransport): void {
    if (session.transport !== transport) return;
    session.transport = null;
    session.detachedAt = this.clock.now();
  }

  /**
   * Take over a session another node held (scale-out, server/hub-mesh.ts): a session with that id,
   * without a transport, that the next `open(..., id)` resumes; its client resubscribes from its
   * positions as after any reconnect. The other node has let it go (`release`).
   */
  adopt(id: string, identity: HubIdentity): Session {
    const existing = this.sessions.get(id);
    if (existing !== undefined) return existing;
    if (this.sessions.size >= this.maxSessions) {
      throw new HubFullError(`${this.maxSessions} sessions already: try again later`);
    }
    const now = this.clock.now();
    const session = this.newSession(id, identity, now);
    session.detachedAt = now;
    this.sessions.set(id, session);
    return session;
  }

  /**
   * Let a session go without ending it: it moved to another node, which keeps its presence (no leave)
   * and its id. Its transport here, if any, is closed.
   */
  release(id: string): void {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    const transport = session.transport;
    session.transport = null;
    this.end(session, false);
    transport?.close(1000, 'the session moved to another node');
  }

  /** broker.publish, its round trip observed in the brokerLatency histogram. */
  private async publishTimed(channel: string, data: string, options: PublishOptions): Promise<Publication> {
    const started = performance.now();
    try {
      return await this.broker.publish(channel, data, options);
    } finally {
      this.brokerLatency.observe(performance.now() - started);
    }
  }

  private newSession(id: string, identity: HubIdentity, now: number): Session {
    const onOverflow = (s: Session) => this.overflow(s);
    return new Session(id, identity.user, identity.channels, this.queue, now, onOverflow, this.sent);
  }

  /**
   * Told when a session ends here: `released` when it moved to another node (release), false when it
   * is over (bye, clean close, expiry).
   */
  onSessionEnded(handler: (session: Session, released: boolean) => void): void {
    this.endedHandlers.push(handler);
  }

  /** The sessions this hub holds now. */
  localSessions(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /** The session by id (ids are public: never take one from a client, see sessionByKey). */
  session(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  /** The session a client's key names, if the key is right and the session is held here. */
  sessionByKey(key: string): Session | undefined {
    const id = this.sessionKeys.idOf(key);
    return id === null ? undefined : this.sessions.get(id);
  }

  /** One message from the client (JSON text). Never throws: bad input is answered with an error. */
  receive(session: Session, text: string): void {
    session.lastSeen = this.clock.now();
    this.counters.messagesIn++;
    let message: ClientMessage;
    try {
      message = parseClientMessage(text, this.maxMessageBytes);
    } catch (error) {
      this.refuse(session, error as HubProtocolError);
      return;
    }
    session.strikes = 0;
    switch (message.type) {
      case 'ping':
        this.reply(session, { type: 'pong' });
        return;
      case 'pong':
        return;
      case 'bye':
        this.finish(session);
        return;
      case 'subscribe':
        void this.subscribe(session, message);
        return;
      case 'unsubscribe':
        void this.unsubscribe(session, message);
        return;
      case 'publish':
        void this.clientPublish(session, message);
        return;
      case 'presence':
        void this.presence(session, message);
        return;
    }
  }

  /** The client showed it is there without a message (a long-poll request): liveness. */
  seen(session: Session): void {
    session.lastSeen = this.clock.now();
  }

  /** The transport is writable again. */
  drained(session: Session): void {
    session.flush();
    for (const sub of session.subscriptions.values()) {
      const runtime = this.runtime.get(sub);
      if (sub.state === 'recovering' && runtime !== undefined && runtime.next < runtime.backlog.length) {
        this.continueCatchUp(session, sub);
      }
    }
  }

  /**
   * Publish from the server (no client, no cmid). With an idempotency key, a second publish with the
   * same key (within the broker's memory of keys) publishes nothing and answers the first's position.
   */
  async publish(
    channel: string,
    data: string,
    options: { idempotencyKey?: string } = {},
  ): Promise<Publication> {
    const publication = await this.publishTimed(channel, data, { from: null, ...options });
    this.counters.publications++;
    return publication;
  }

  private async clientPublish(
    session: Session,
    message: Extract<ClientMessage, { type: 'publish' }>,
  ): Promise<void> {
    if (!(await this.allowed(session, message.channel, 'publish'))) {
      this.fail(session, message.id, 'FORBIDDEN', `publish to ${message.channel} refused`);
      return;
    }
    // Dropped after a 4013 until the client is back: it sends them again, in order.
    if (this.refusingPublishes.has(session)) return;
    const queued = this.publishGate.submit(session, message.data.length, () =>
      this.publishNow(session, message),
    );
    if (!queued) this.tooManyWaiting(session);
    else if (this.publishGate.queuedOf(session) >= this.publishGate.pauseAt && !this.heldBack.has(session)) {
      // Backpressure: read nothing more from this client until its queue is down again.
      this.heldBack.set(session, []);
      session.transport?.pauseInput?.(true);
    }
  }

  /**
   * Resolves once the session's publishes queued for the broker are few again (at once if they are),
   * or after `timeoutMs`: a POST of client messages answers then, so its client sends the next one
   * no faster than the broker takes them.
   */
  publishesSettled(session: Session, timeoutMs: number): Promise<void> {
    const waiters = this.heldBack.get(session);
    if (waiters === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** A session's queue for the broker shrank: let its client go on once it is low enough. */
  private shrunk(session: Session, queued: number): void {
    if (queued > this.publishGate.resumeAt) return;
    const waiters = this.heldBack.get(session);
    if (waiters === undefined) return;
    this.heldBack.delete(session);
    session.transport?.pauseInput?.(false);
    for (const resume of waiters) resume();
  }

  /** A client publish whose turn came (publishGate): to the broker, then the ack or UNAVAILABLE. */
  private async publishNow(
    session: Session,
    message: Extract<ClientMessage, { type: 'publish' }>,
  ): Promise<void> {
    let publication: Publication;
    try {
      publication = await this.publishTimed(message.channel, message.data, {
        from: { session: session.id, user: session.user },
        idempotencyKey: `${session.user ?? ''}\u0000${message.channel}\u0000${message.cmid}`,
      });
    } catch (error) {
      this.fail(session, message.id, 'UNAVAILABLE', `the broker failed: ${(error as Error).message}`);
      return;
    }
    this.counters.publications++;
    this.reply(session, {
      type: 'ack',
      id: message.id,
      channel: message.channel,
      epoch: publication.epoch,
      offset: publication.offset,
    });
  }

  stats(): HubStats {
    const transports: Record<TransportKind, number> = { websocket: 0, sse: 0, polling: 0 };
    for (const s of this.sessions.values()) if (s.transport !== null) transports[s.transport.kind]++;
    return {
      sessions: this.sessions.size,
      transports,
      messagesIn: this.counters.messagesIn,
      messagesOut: this.sent.messages,
      unitsOut: this.sent.units,
      brokerLatency: this.brokerLatency,
      publications: this.counters.publications,
      resumes: this.counters.resumes,
      gaps: this.counters.gaps,
      dropped: this.counters.dropped,
      slowDisconnects: this.counters.slow,
      publishesInFlight: this.publishGate.inFlight,
      publishesQueued: this.publishGate.queued,
      publishesWaitingDisconnects: this.counters.waitingDisconnects,
    };
  }

  /** Close every transport (1001: going away, reconnect elsewhere) and stop. */
  async close(): Promise<void> {
    this.timer.cancel();
    for (const session of this.sessions.values()) {
      const transport = session.transport;
      if (transport === null) continue;
      this.reply(session, {
        type: 'disconnect',
        code: 1001,
        reason: 'server shutting down',
        reconnect: true,
      });
      transport.close(1001, 'server shutting down');
      session.transport = null;
    }
    this.sessions.clear();
    this.local.clear();
  }

  // Requests ----------------------------------------------------------------------------------------

  private async subscribe(session: Session, m: Extract<ClientMessage, { type: 'subscribe' }>): Promise<void> {
    const existing = session.subscriptions.get(m.channel);
    if (existing === undefined && session.subscriptions.size >= this.maxSubscriptions) {
      this.fail(session, m.id, 'LIMIT', `${this.maxSubscriptions} subscriptions at most`);
      return;
    }
    if (!(await this.allowed(session, m.channel, 'subscribe'))) {
      this.fail(session, m.id, 'FORBIDDEN', `subscribe to ${m.channel} refused`);
      return;
    }
    const current = session.subscriptions.get(m.channel);
    // Checked again after the permission step: a burst of subscribes all passed the first check while
    // none was added yet.
    if (current === undefined && session.subscriptions.size >= this.maxSubscriptions) {
      this.fail(session, m.id, 'LIMIT', `${this.maxSubscriptions} subscriptions at most`);
      return;
    }
    // A subscribe of a channel already subscribed re-syncs it from the position the client names.
    if (current !== undefined) session.queue.removeChannel(m.channel);
    const sub: Subscription = {
      channel: m.channel,
      state: 'recovering',
      epoch: '',
      offset: 0,
      presence: m.presence,
      generation: (current?.generation ?? 0) + 1,
    };
    session.subscriptions.set(m.channel, sub);
    this.runtime.set(sub, { held: [], overflowed: false, backlog: [], next: 0 });
    if (current === undefined) this.addLocal(m.channel, session);
    let recovery: Recovery;
    try {
      recovery = await this.broker.recover(m.channel, m.since);
    } catch (error) {
      this.dropSubscription(session, sub);
      this.fail(session, m.id, 'UNAVAILABLE', `the broker failed: ${(error as Error).message}`);
      return;
    }
    if (session.subscriptions.get(m.channel) !== sub) return; // superseded meanwhile
    if (!recovery.recovered && recovery.reason === 'future') {
      this.dropSubscription(session, sub);
      this.fail(
        session,
        m.id,
        'OFFSET_FROM_THE_FUTURE',
        `offset ${m.since?.offset} is past the channel's latest (${recovery.top.offset})`,
      );
      return;
    }
    const first = recovery.publications[0];
    const start =
      m.since !== null && recovery.recovered
        ? m.since.offset
        : first !== undefined
          ? first.offset - 1
          : recovery.top.offset;
    const subscribed: ServerMessage = {
      type: 'subscribed',
      id: m.id,
      channel: m.channel,
      epoch: recovery.top.epoch,
      offset: start,
      recovered: recovery.recovered || m.since === null,
    };
    if (!recovery.recovered && m.since !== null) subscribed.reason = recovery.reason as 'epoch' | 'trimmed';
    session.enqueue(new Outbound(encodeServerMessage(subscribed)), null);
    sub.epoch = recovery.top.epoch;
    sub.offset = start;
    this.catchUp(session, sub, recovery.publications);
    if (sub.presence) {
      await this.broker.join(m.channel, { session: session.id, user: session.user }).catch(() => false);
    }
  }

  private async unsubscribe(
    session: Session,
    m: Extract<ClientMessage, { type: 'unsubscribe' }>,
  ): Promise<void> {
    const sub = session.subscriptions.get(m.channel);
    if (sub === undefined) {
      this.fail(session, m.id, 'NOT_SUBSCRIBED', `not subscribed to ${m.channel}`);
      return;
    }
    this.dropSubscription(session, sub);
    this.reply(session, { type: 'unsubscribed', id: m.id, channel: m.channel });
  }

  private async presence(session: Session, m: Extract<ClientMessage, { type: 'presence' }>): Promise<void> {
    if (!(await this.allowed(session, m.channel, 'presence'))) {
      this.fail(session, m.id, 'FORBIDDEN', `presence of ${m.channel} refused`);
      return;
    }
    try {
      const members = await this.broker.members(m.channel);
      this.reply(session, {
        type: 'presence',
        id: m.id,
        channel: m.channel,
        members: members.map(wireMember),
      });
    } catch (error) {
      this.fail(session, m.id, 'UNAVAILABLE', `the broker failed: ${(error as Error).message}`);
    }
  }

  // Delivery ----------------------------------------------------------------------------------------

  private fanOut(publication: Publication): void {
    const sessions = this.local.get(publication.channel);
    if (sessions === undefined || sessions.size === 0) return;
    const text = new Outbound(encodePublication(publication));
    for (const session of sessions) {
      const sub = session.subscriptions.get(publication.channel);
      if (sub === undefined) continue;
      this.deliver(session, sub, publication, text);
    }
  }

  /** Queue `publication` for the subscription if it is the next one (see the header). */
  private deliver(session: Session, sub: Subscription, publication: Publication, text?: Outbound): void {
    if (sub.state === 'gapped') return;
    if (sub.state === 'recovering') {
      const runtime = this.runtime.get(sub)!;
      if (runtime.held.length < MAX_HELD) runtime.held.push(publication);
      else runtime.overflowed = true;
      return;
    }
    if (publication.epoch !== sub.epoch) {
      // The history started over: the client resubscribes and learns it (recovered: false, 'epoch').
      this.gap(session, sub);
      return;
    }
    if (publication.offset <= sub.offset) return;
    if (publication.offset > sub.offset + 1) {
      void this.recoverMissing(session, sub, publication);
      return;
    }
    sub.offset = publication.offset;
    session.enqueue(text ?? new Outbound(encodePublication(publication)), sub.channel);
  }

  /** Deliver recovered publications, then what was held meanwhile; recover again if that overflowed. */
  private catchUp(session: Session, sub: Subscription, publications: readonly Publication[]): void {
    const runtime = this.runtime.get(sub)!;
    runtime.backlog = publications;
    runtime.next = 0;
    this.continueCatchUp(session, sub);
  }

  /**
   * Queue the backlog while the queue has room (CATCH_UP_WINDOW); the subscription stays 'recovering'
   * (live publications are held) until all of it is queued, then the held ones follow.
   */
  private continueCatchUp(session: Session, sub: Subscription): void {
    const runtime = this.runtime.get(sub)!;
    sub.state = 'live';
    while (runtime.next < runtime.backlog.length) {
      if (session.queue.length >= CATCH_UP_WINDOW) {
        // Goes on from drained(), when the transport takes more.
        sub.state = 'recovering';
        return;
      }
      this.deliver(session, sub, runtime.backlog[runtime.next++]!);
      if (sub.state !== 'live') {
        // A gap or another recovery took over.
        runtime.backlog = [];
        runtime.next = 0;
        return;
      }
    }
    runtime.backlog = [];
    runtime.next = 0;
    const held = runtime.held.sort((a, b) => a.offset - b.offset);
    const overflowed = runtime.overflowed;
    runtime.held = [];
    runtime.overflowed = false;
    // A held one past a hole starts another recovery; deliver() holds the rest behind it.
    for (const p of held) this.deliver(session, sub, p);
    if (overflowed && sub.state === 'live') void this.recoverMissing(session, sub, null);
  }

  /** Publications after the subscription's offset were missed: fetch them from the history. */
  private async recoverMissing(
    session: Session,
    sub: Subscription,
    trigger: Publication | null,
  ): Promise<void> {
    sub.state = 'recovering';
    const runtime = this.runtime.get(sub)!;
    if (trigger !== null) runtime.held.push(trigger);
    const generation = sub.generation;
    let recovery: Recovery;
    try {
      recovery = await this.broker.recover(sub.channel, { epoch: sub.epoch, offset: sub.offset });
    } catch {
      if (session.subscriptions.get(sub.channel) === sub && sub.generation === generation)
        this.gap(session, sub);
      return;
    }
    if (session.subscriptions.get(sub.channel) !== sub || sub.generation !== generation) return;
    if (!recovery.recovered) {
      this.gap(session, sub);
    } else {
      this.catchUp(session, sub, recovery.publications);
    }
  }

  /** The broker may have missed publications: every live subscription looks in the history. */
  private resync(): void {
    for (const session of this.sessions.values()) {
      for (const sub of session.subscriptions.values()) {
        if (sub.state === 'live') void this.recoverMissing(session, sub, null);
      }
    }
  }

  /** Stop queuing the channel, remove what is queued of it, and tell the client to resubscribe. */
  private gap(session: Session, sub: Subscription): void {
    sub.state = 'gapped';
    const runtime = this.runtime.get(sub);
    if (runtime !== undefined) {
      runtime.backlog = [];
      runtime.next = 0;
    }
    const removed = session.queue.removeChannel(sub.channel);
    session.counters.gaps++;
    session.counters.dropped += removed;
    this.counters.gaps++;
    this.counters.dropped += removed;
    session.enqueue(new Outbound(encodeServerMessage({ type: 'gap', channel: sub.channel })), null);
  }

  private overflow(session: Session): void {
    if (session.policy === 'drop-oldest') {
      while (session.overLimits) {
        const channel = session.queue.oldestChannel();
        const sub = channel === null ? undefined : session.subscriptions.get(channel);
        if (sub === undefined) break;
        this.gap(session, sub);
      }
      if (!session.overLimits) return;
    }
    // 'disconnect', or a queue full of replies only: the client reconnects and resubscribes.
    session.counters.disconnects++;
    this.counters.slow++;
    session.queue.clear();
    for (const sub of session.subscriptions.values()) sub.state = 'gapped';
    const transport = session.transport;
    if (transport !== null) {
      this.detach(session, transport);
      transport.close(HubCloseCode.SlowConsumer, 'slow consumer: reconnect and resubscribe');
    }
  }

  /** Too many publishes wait for the broker: the client comes back on a new transport and resends. */
  private tooManyWaiting(session: Session): void {
    this.counters.waitingDisconnects++;
    this.refusingPublishes.add(session);
    // What it had queued goes too: its client sends it again, after what it sent before.
    this.publishGate.drop(session);
    const transport = session.transport;
    if (transport === null) return;
    const reason = 'too many publishes waiting for the broker: reconnect and send them again';
    this.reply(session, { type: 'disconnect', code: HubCloseCode.PublishesWaiting, reason, reconnect: true });
    this.detach(session, transport);
    transport.close(HubCloseCode.PublishesWaiting, reason);
  }

  private presenceChanged(channel: string, change: 'join' | 'leave', member: PresenceMember): void {
    const sessions = this.local.get(channel);
    if (sessions === undefined) return;
    const text = new Outbound(encodeServerMessage({ type: change, channel, member: wireMember(member) }));
    for (const session of sessions) {
      const sub = session.subscriptions.get(channel);
      if (sub?.presence !== true || session.id === member.session) continue;
      session.enqueue(text, null);
    }
  }

  // Housekeeping ------------------------------------------------------------------------------------

  private sweep(): void {
    const now = this.clock.now();
    for (const session of this.sessions.values()) {
      const transport = session.transport;
      if (transport !== null) {
        if (now - session.lastSeen > this.liveness) {
          this.detach(session, transport);
          transport.close(HubCloseCode.Unresponsive, 'no message or pong from the client in time');
        } else {
          if (session.wrote) session.lastSent = now;
          session.wrote = false;
          if (now - session.lastSent >= this.pingInterval) this.reply(session, { type: 'ping' });
        }
      } else if (session.detachedAt !== null && now - session.detachedAt > this.ttl) {
        this.end(session);
      }
    }
  }

  /** The session is over: leave presence, stop listening, forget it. */
  private end(session: Session, leavePresence = true): void {
    for (const sub of [...session.subscriptions.values()]) this.dropSubscription(session, sub, leavePresence);
    this.sessions.delete(session.id);
    this.publishGate.drop(session);
    for (const handler of this.endedHandlers) handler(session, !leavePresence);
  }

  private dropSubscription(session: Session, sub: Subscription, leavePresence = true): void {
    if (session.subscriptions.get(sub.channel) !== sub) return;
    session.subscriptions.delete(sub.channel);
    session.queue.removeChannel(sub.channel);
    const sessions = this.local.get(sub.channel);
    sessions?.delete(session);
    if (sessions !== undefined && sessions.size === 0) {
      this.local.delete(sub.channel);
      void this.broker.unlisten(sub.channel).catch(() => undefined);
    }
    if (!sub.presence) return;
    if (leavePresence) void this.broker.leave(sub.channel, session.id).catch(() => false);
    else this.broker.forget?.(sub.channel, session.id);
  }

  private addLocal(channel: string, session: Session): void {
    let sessions = this.local.get(channel);
    if (sessions === undefined) {
      sessions = new Set();
      this.local.set(channel, sessions);
      void this.broker.listen(channel).catch(() => undefined);
    }
    sessions.add(session);
  }

  private async allowed(session: Session, channel: string, action: HubAction): Promise<boolean> {
    if (session.allowed !== null && !session.allowed.some((pattern) => matches(pattern, channel)))
      return false;
    if (this.authorize === undefined) return true;
    try {
      return (
        (await this.authorize({ session: { id: session.id, user: session.user }, channel, action })) === true
      );
    } catch {
      return false;
    }
  }

  private reply(session: Session, message: ServerMessage): void {
    session.enqueue(new Outbound(encodeServerMessage(message)), null);
  }

  private fail(session: Session, id: number, code: HubErrorCode, message: string): void {
    this.reply(session, { type: 'error', id, code, message });
  }

  private refuse(session: Session, error: HubProtocolError): void {
    this.reply(session, {
      type: 'error',
      ...(error.id === undefined ? {} : { id: error.id }),
      code: error.code,
      message: error.message,
    });
    if (++session.strikes >= this.maxStrikes && session.transport !== null) {
      const transport = session.transport;
      this.detach(session, transport);
      transport.close(HubCloseCode.ProtocolViolation, 'too many bad messages');
    }
  }
}

/** 'news' matches only news; 'chat.*' matches every channel starting with 'chat.'. */
function matches(pattern: string, channel: string): boolean {
  return pattern.endsWith('*') ? channel.startsWith(pattern.slice(0, -1)) : pattern === channel;
}

function wireMember(member: PresenceMember): WireMember {
  return { session: member.session, user: member.user };
}

function encodePublication(p: Publication): string {
  return encodeServerMessage({
    type: 'message',
    channel: p.channel,
    epoch: p.epoch,
    offset: p.offset,
    data: p.data,
    from: p.from === null ? null : { session: p.from.session, user: p.from.user },
  });
}
