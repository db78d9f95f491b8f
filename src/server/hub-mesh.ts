/**
 * Several nodes, one URL, no sticky sessions: what the HTTP transports need from each other when a
 * load balancer sends a session's requests to any node. Over the Redis broker's connection:
 *
 *   - the secret session keys are made with (P:session-secret, set once by the first node);
 *   - a session registry: P:session:<id> -> {node, user}, set when a node opens or adopts a session,
 *     refreshed while it holds it (TTL 90 s, more than the hub's 60 s session TTL), deleted when the
 *     session ends there (unless another node's entry replaced it);
 *   - an inbox per node (pub/sub channel P:node:<id>) for requests and answers:
 *       send    a POST's lines for a session held elsewhere       -> answered ok / missing
 *       poll    a long-poll GET for a polling transport elsewhere -> answered with its lines
 *       release "your session moved here": the holder lets it go without a presence leave
 *
 * A session follows its client: a WebSocket or SSE connection (or a new polling transport) for a
 * session held by another node takes it over (`takeOver`); POSTs and polls of an existing polling
 * transport are forwarded to the node that holds it. Requests wait for an answer a bounded time.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { RedisBroker } from '../session/brokers/redis.js';
import type { Hub, HubIdentity } from '../session/hub.js';
import type { Session } from '../session/session.js';

const REGISTRY_TTL_MS = 90_000;
const REFRESH_MS = 20_000;
/** A forwarded request without an answer by then failed (a poll waits longer: see `poll`). */
const REQUEST_TIMEOUT_MS = 3000;
/** Forwarded requests waiting for their answer, at most. */
const MAX_PENDING = 10_000;
/** Delete a registry entry only if it is still the one this node wrote (KEYS[1], ARGV[1]). */
const UNCLAIM_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

type MeshMessage =
  | { type: 'send'; req: string; from: string; session: string; user: string | null; lines: string[] }
  | { type: 'poll'; req: string; from: string; session: string; user: string | null; t: string }
  | { type: 'release'; req: string; from: string; session: string }
  | { type: 'answer'; req: string; ok: boolean; lines?: string[] };

interface Answer {
  ok: boolean;
  lines?: string[];
  /** No answer came in time (it may still come, too late). */
  timedOut?: boolean;
  /** No node listens on that inbox: the node is gone. */
  unreachable?: boolean;
}

/** What a node's polling transports offer to a poll forwarded from another node. */
export interface RemotePolls {
  /** Wait on transport `t` of `session` for lines, as a local GET would; null when there is no such transport. */
  poll(t: string, session: Session, answer: (lines: string[]) => void): boolean;
}

export class HubMesh {
  readonly node = randomBytes(8).toString('hex');
  private readonly redis: Redis | Cluster;
  private readonly subscriber: Redis | Cluster;
  private readonly prefix: string;
  private readonly pending = new Map<string, { resolve: (answer: Answer) => void; timer: NodeJS.Timeout }>();
  private readonly timer: NodeJS.Timeout;
  private polls: RemotePolls | null = null;
  private nextReq = 0;

  constructor(
    broker: RedisBroker,
    private readonly hub: Hub,
  ) {
    this.redis = broker.redis;
    this.prefix = broker.prefix;
    this.subscriber = broker.pubSubConnection();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, text: string) => this.received(text));
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
    // A session over here leaves the registry (one that moved is the new holder's entry by now).
    hub.onSessionEnded((session, released) => {
      if (!released) this.unclaim(session);
    });
  }

  async start(): Promise<void> {
    await this.subscriber.subscribe(this.inbox(this.node));
  }

  /**
   * The secret every node makes session keys with (session-keys.ts), so that a key from one node
   * resumes on another: the first node to start puts a random one in Redis, the others read it.
   */
  async sharedSessionSecret(): Promise<Buffer> {
    const key = `${this.prefix}session-secret`;
    await this.redis.set(key, randomBytes(32).toString('base64'), 'NX');
    const secret = await this.redis.get(key);
    if (secret === null) throw new Error(`Redis lost ${key} as it was set`);
    return Buffer.from(secret, 'base64');
  }

  /** The polling transports of this node (hub-http.ts), for polls forwarded here. */
  servePolls(polls: RemotePolls): void {
    this.polls = polls;
  }

  /** Note that this node holds `session` (after open or adopt). */
  claim(session: Session): void {
    void this.redis
      .set(this.key(session.id), this.entry(session), 'PX', REGISTRY_TTL_MS)
      .catch(() => undefined);
  }

  /** The session ended here: its registry entry goes, unless another node's has replaced it. */
  private unclaim(session: Session): void {
    void this.redis.eval(UNCLAIM_SCRIPT, 1, this.key(session.id), this.entry(session)).catch(() => undefined);
  }

  /**
   * Before opening a transport for `id`, a session this node does not hold: if another node holds it
   * for the same user, it lets it go and this node adopts it (same id, same presence). Otherwise
   * nothing: `hub.open` then starts a new session (SESSION_UNKNOWN), as on one node.
   */
  async takeOver(id: string | null, identity: HubIdentity): Promise<void> {
    if (id === null || this.hub.session(id) !== undefined) return;
    const owner = await this.owner(id);
    // Not found, another user's, or held here once and ended here (the entry outlives it a while).
    if (owner === null || owner.user !== identity.user || owner.node === this.node) return;
    const answer = await this.request(owner.node, { type: 'release', session: id });
    // The holder is alive and has no such session (it ended): the registry was stale, nothing to
    // take over. A holder gone (crashed, stopped) or too slow to answer: its session moves here.
    if (!answer.ok && answer.timedOut !== true && answer.unreachable !== true) return;
    try {
      this.hub.adopt(id, identity);
    } catch {
      // HubFullError: the open() that follows says so to the client.
    }
  }

  /** Hand a POST's lines to the node holding the session. False: nobody holds it (404). */
  async send(id: string, user: string | null, lines: string[]): Promise<boolean> {
    const owner = await this.owner(id);
    if (owner === null || owner.user !== user || owner.node === this.node) return false;
    const answer = await this.request(owner.node, { type: 'send', session: id, user, lines });
    return answer.ok;
  }

  /**
   * Forward a long-poll GET to the node holding the session's polling transport `t`. Resolves with
   * the lines (possibly none); 'missing' when no node has that transport (open one here instead);
   * 'failed' when the holder did not answer in time: its answer may still come and be lost, so the
   * GET must fail (the client then resubscribes from its positions) rather than look empty.
   */
  async poll(
    id: string,
    user: string | null,
    t: string,
    waitMs: number,
  ): Promise<string[] | 'missing' | 'failed'> {
    const owner = await this.owner(id);
    if (owner === null || owner.user !== user || owner.node === this.node) return 'missing';
    const answer = await this.request(
      owner.node,
      { type: 'poll', session: id, user, t },
      waitMs + REQUEST_TIMEOUT_MS,
    );
    if (answer.timedOut === true) return 'failed';
    return answer.ok ? (answer.lines ?? []) : 'missing';
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const { resolve, timer } of this.pending.values()) {
      clearTimeout(timer);
      resolve({ ok: false, timedOut: true });
    }
    this.pending.clear();
    this.subscriber.disconnect();
  }

  // Internals ---------------------------------------------------------------------------------------

  /** The registry entry of a session this node holds. */
  private entry(session: Session): string {
    return JSON.stringify({ node: this.node, user: session.user });
  }

  private key(id: string): string {
    return `${this.prefix}session:${id}`;
  }

  private inbox(node: string): string {
    return `${this.prefix}node:${node}`;
  }

  private async owner(id: string): Promise<{ node: string; user: string | null } | null> {
    try {
      const text = await this.redis.get(this.key(id));
      if (text === null) return null;
      const value = JSON.parse(text) as { node?: unknown; user?: unknown };
      if (typeof value.node !== 'string') return null;
      return { node: value.node, user: typeof value.user === 'string' ? value.user : null };
    } catch {
      return null;
    }
  }

  private async refresh(): Promise<void> {
    // One SET each (not a pipeline: on a Cluster the keys live in different slots); ioredis writes
    // them out together anyway.
    const sets = [...this.hub.localSessions()].map((session) =>
      this.redis.set(this.key(session.id), this.entry(session), 'PX', REGISTRY_TTL_MS),
    );
    await Promise.allSettled(sets);
  }

  private request(
    node: string,
    message:
      | Omit<Extract<MeshMessage, { type: 'send' }>, 'req' | 'from'>
      | Omit<Extract<MeshMessage, { type: 'poll' }>, 'req' | 'from'>
      | Omit<Extract<MeshMessage, { type: 'release' }>, 'req' | 'from'>,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<Answer> {
    if (this.pending.size >= MAX_PENDING) return Promise.resolve({ ok: false, timedOut: true });
    const req = `${this.node}:${++this.nextReq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        resolve({ ok: false, timedOut: true });
      }, timeoutMs);
      this.pending.set(req, { resolve, timer });
      const text = JSON.stringify({ ...message, req, from: this.node });
      this.redis.publish(this.inbox(node), text).then(
        (receivers) => {
          if (receivers === 0) this.answered({ type: 'answer', req, ok: false }, true);
        },
        () => this.answered({ type: 'answer', req, ok: false }, true),
      );
    });
  }

  private reply(to: string, req: string, ok: boolean, lines?: string[]): void {
    const answer: MeshMessage = { type: 'answer', req, ok, ...(lines === undefined ? {} : { lines }) };
    void this.redis.publish(this.inbox(to), JSON.stringify(answer)).catch(() => undefined);
  }

  private answered(message: Extract<MeshMessage, { type: 'answer' }>, unreachable = false): void {
    const pending = this.pending.get(message.req);
    if (pending === undefined) return;
    this.pending.delete(message.req);
    clearTimeout(pending.timer);
    const answer: Answer = { ok: message.ok };
    if (message.lines !== undefined) answer.lines = message.lines;
    if (unreachable) answer.unreachable = true;
    pending.resolve(answer);
  }

  private received(text: string): void {
    let message: MeshMessage;
    try {
      message = JSON.parse(text) as MeshMessage;
    } catch {
      return;
    }
    if (message.type === 'answer') {
      this.answered(message);
      return;
    }
    const session = this.hub.session(message.session);
    if (message.type === 'release') {
      this.hub.release(message.session);
      this.reply(message.from, message.req, session !== undefined);
      return;
    }
    if (session === undefined || session.user !== message.user) {
      this.reply(message.from, message.req, false);
      return;
    }
    if (message.type === 'send') {
      for (const line of message.lines) this.hub.receive(session, line);
      this.reply(message.from, message.req, true);
      return;
    }
    const waiting = this.polls?.poll(message.t, session, (lines) =>
      this.reply(message.from, message.req, true, lines),
    );
    if (waiting !== true) this.reply(message.from, message.req, false);
  }
}
