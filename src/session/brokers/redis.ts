/**
 * The Redis broker: publications, history, idempotency keys and presence in Redis, so that several
 * Conduit nodes behind one URL share them (ioredis as the client: standalone, Sentinel or Cluster
 * through its own support). One publish is one script call (redis-scripts.ts): the offset is assigned
 * exactly once, the entry goes into the channel's stream (trimmed by count and age), the idempotency
 * key is set and the publication goes out on the channel's pub/sub channel, to every node listening.
 *
 * History lives in a Redis Stream whose entry ids are "<time>-<offset>", so the offsets and epochs are
 * the same on every node; an epoch is set when a channel's keys are created, so a history lost in
 * Redis (a flush, a restart without persistence, keys expired after `channelTtlMs` idle) gives a new
 * epoch and resuming clients learn it (`recovered: false`, 'epoch').
 *
 * Presence: a sorted set of members by expiry time per channel; each node refreshes its own members
 * every `presenceTtlMs / 3`, so the members of a crashed node expire; every node reaps the expired
 * members of the channels it listens to (and says they left). Presence and publications reach this
 * node's handlers through pub/sub only, like any other node's.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import type { Broker, PresenceMember, PublishOptions } from '../broker.js';
import type { HistoryLimits, Publication, PublisherInfo, Recovery, StreamPosition } from '../history.js';
import { openRedisConnections } from './redis-connections.js';
import { JOIN_SCRIPT, LEAVE_SCRIPT, PUBLISH_SCRIPT, REAP_SCRIPT, RECOVER_SCRIPT } from './redis-scripts.js';

export interface RedisBrokerOptions {
  /**
   * A redis:// URL, or ioredis options (Sentinel: `{ sentinels: [{ host, port }], name: 'mymaster' }`).
   * Default redis://127.0.0.1:6379.
   */
  redis?: string | RedisOptions;
  /**
   * Redis Cluster instead of `redis` (ioredis Cluster): seed nodes ('host:port' or `{ host, port }`) and
   * Cluster options. Publications and presence go over sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7),
   * each to the shard holding its channel's keys.
   */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
  /**
   * Acknowledge a publish only once this many replicas have it (Redis WAIT, within `timeoutMs`,
   * default 500), and send it to subscribers only then: a failover (Sentinel) cannot lose an
   * acknowledged publication. A publish the replicas did not confirm in time fails (UNAVAILABLE: the
   * client sends it again, the idempotency key keeps it once). Standalone or Sentinel only (on a
   * Cluster, WAIT cannot be aimed at the shard that took the write). Default: none (Redis replicates
   * asynchronously; a failover may lose the last acknowledged publications).
   */
  replicas?: { count: number; timeoutMs?: number };
  /** Prefix of every key and pub/sub channel (keys of other applications are never touched). Default 'conduit:'. */
  prefix?: string;
  /** History per channel: maxCount (default 1000) and maxAgeMs (default 10 minutes). maxBytes is not applied in Redis. */
  history?: HistoryLimits;
  /** How long a channel's keys live without a publish, ms (its epoch ends then). Default 24 h. */
  channelTtlMs?: number;
  /** How long an idempotency key is remembered, ms. Default 5 minutes. */
  idempotencyTtlMs?: number;
  /** A presence member not refreshed for this long is gone (its node crashed), ms. Default 30 s. */
  presenceTtlMs?: number;
  /** A command without an answer by then fails (the hub answers UNAVAILABLE), ms. Default 2,000. */
  commandTimeoutMs?: number;
  /** Makes an epoch. Default: 8 random base-36 characters. */
  newEpoch?: () => string;
  /** Told when the connection to Redis changes: 'ready', 'reconnecting', 'error' (with it), 'end'. */
  onStatus?: (status: 'ready' | 'reconnecting' | 'error' | 'end', error?: Error) => void;
}

type PresenceHandler = (channel: string, change: 'join' | 'leave', member: PresenceMember) => void;

/** How long ready() waits for every connection to answer, ms. */
const READY_TIMEOUT_MS = 10_000;

/** How long close() waits for Redis to answer its QUIT, ms. */
const CLOSE_WAIT_MS = 1000;

/** A channel listened to: by how many, and its SUBSCRIBE (ok: null while under way). */
interface Listening {
  count: number;
  ok: boolean | null;
  subscribed: Promise<boolean>;
}

interface ScriptCommands {
  conduitPublish(...args: (string | number)[]): Promise<[0, string] | [1, string, number, number]>;
  conduitRecover(...args: (string | number)[]): Promise<[string, number, [string, string[]][]]>;
  conduitJoin(...args: (string | number)[]): Promise<number>;
  conduitLeave(...args: (string | number)[]): Promise<number>;
  conduitReap(...args: (string | number)[]): Promise<number>;
}

/** The command connection: one Redis (standalone or through Sentinel) or a Cluster, with the scripts. */
export type RedisCommands = (Redis | Cluster) & ScriptCommands;

export class RedisBroker implements Broker {
  /** Commands and scripts. */
  readonly redis: RedisCommands;
  /** Pub/sub (a connection in subscriber mode takes no other command); sharded on a Cluster. */
  private readonly subscriber: Redis | Cluster;
  /** A Cluster: SPUBLISH/SSUBSCRIBE instead of PUBLISH/SUBSCRIBE. */
  private readonly sharded: boolean;
  /** Makes another connection for classic pub/sub (no command timeout): the mesh's inbox. */
  readonly pubSubConnection: () => Redis | Cluster;
  /**
   * With `replicas`: the connection publishes go on (WAIT waits for this connection's writes, and
   * blocks it meanwhile: the other commands stay on `redis`), and the replicas to wait for.
   */
  private readonly durable: { connection: Redis & ScriptCommands; count: number; timeoutMs: number } | null;
  /** Prefix of every key and pub/sub channel. */
  readonly prefix: string;
  private readonly maxCount: number;
  private readonly maxAgeMs: number;
  private readonly channelTtlMs: number;
  private readonly keyTtlMs: number;
  private readonly presenceTtlMs: number;
  private readonly newEpoch: () => string;
  /** Channels listened to: how many times, and their SUBSCRIBE. */
  private readonly listening = new Map<string, Listening>();
  /** Members this node joined, by channel: refreshed while they are here. */
  private readonly local = new Map<string, Map<string, PresenceMember>>();
  private readonly publicationHandlers: ((publication: Publication) => void)[] = [];
  private readonly presenceHandlers: PresenceHandler[] = [];
  private readonly resyncHandlers: (() => void)[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(options: RedisBrokerOptions = {}) {
    this.prefix = options.prefix ?? 'conduit:';
    this.maxCount = options.history?.maxCount ?? 1000;
    this.maxAgeMs = options.history?.maxAgeMs ?? 10 * 60_000;
    this.channelTtlMs = options.channelTtlMs ?? 24 * 3_600_000;
    this.keyTtlMs = options.idempotencyTtlMs ?? 5 * 60_000;
    this.presenceTtlMs = options.presenceTtlMs ?? 30_000;
    this.newEpoch = options.newEpoch ?? (() => randomBytes(6).readUIntBE(0, 6).toString(36).slice(0, 8));
    const commandTimeout = options.commandTimeoutMs ?? 2000;
    const cluster = options.cluster;
    if (options.replicas !== undefined && cluster !== undefined) {
      throw new Error('RedisBroker: `replicas` (WAIT) is for standalone Redis or Sentinel, not a Cluster');
    }
    const connections = openRedisConnections(options.redis, cluster, commandTimeout);
    this.redis = connections.commands as RedisCommands;
    this.subscriber = connections.subscriber;
    this.pubSubConnection = connections.pubSub;
    this.sharded = connections.sharded;
    // Reported through failing commands (ioredis reconnects by itself); the last one explains ready().
    this.redis.on('error', (error: Error) => {
      this.lastError = error;
      options.onStatus?.('error', error);
    });
    if (options.onStatus !== undefined) {
      const onStatus = options.onStatus;
      this.redis.on('ready', () => onStatus('ready'));
      this.redis.on('reconnecting', () => onStatus('reconnecting'));
      this.redis.on('end', () => onStatus('end'));
    }
    this.subscriber.on('error', () => undefined);
    const script = (lua: string) => (this.sharded ? shardedPublish(lua) : lua);
    if (options.replicas !== undefined) {
      const connection = (this.redis as Redis).duplicate() as Redis & ScriptCommands;
      connection.on('error', () => undefined);
      connection.defineCommand('conduitPublish', { numberOfKeys: 3, lua: PUBLISH_SCRIPT });
      this.durable = {
        connection,
        count: options.replicas.count,
        timeoutMs: options.replicas.timeoutMs ?? 500,
      };
    } else {
      this.durable = null;
    }
    this.redis.defineCommand('conduitPublish', { numberOfKeys: 3, lua: script(PUBLISH_SCRIPT) });
    this.redis.defineCommand('conduitRecover', { numberOfKeys: 2, lua: RECOVER_SCRIPT });
    this.redis.defineCommand('conduitJoin', { numberOfKeys: 2, lua: script(JOIN_SCRIPT) });
    this.redis.defineCommand('conduitLeave', { numberOfKeys: 2, lua: script(LEAVE_SCRIPT) });
    this.redis.defineCommand('conduitReap', { numberOfKeys: 2, lua: script(REAP_SCRIPT) });
    this.subscriber.on(this.sharded ? 'smessage' : 'message', (channel: string, message: string) =>
      this.received(channel, message),
    );
    // After a reconnection ioredis subscribes again to the channels it had; a SUBSCRIBE that failed
    // (Redis was away) is sent again here. What was published meanwhile was not heard: once the
    // SUBSCRIBEs are through, the hub checks its subscriptions against the history. (A Cluster's
    // sharded subscribers say 'subscribersReady' once they are back, or moved with their slots.)
    let connectedOnce = false;
    this.subscriber.on(this.sharded ? 'subscribersReady' : 'ready', () => {
      const retried = [...this.listening].filter(([, entry]) => entry.ok === false);
      for (const [channel, entry] of retried) this.subscribeTo(channel, entry);
      if (!connectedOnce) {
        connectedOnce = true;
        return;
      }
      void this.subscriber
        .ping()
        .catch(() => undefined)
        .then(() => {
          for (const handler of this.resyncHandlers) handler();
        });
    });
    this.timer = setInterval(() => void this.housekeeping(), Math.max(50, this.presenceTtlMs / 3));
    this.timer.unref();
  }

  /** The command connection's state: 'ready' when Redis answers ('connecting', 'reconnecting', ... when not). */
  get status(): string {
    return this.redis.status;
  }

  /** Resolves once both connections are ready (rejects if Redis cannot be reached or refuses us). */
  async ready(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    // A Cluster whose seeds never answer keeps its commands queued: the wait is bounded here.
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from Redis within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([
        Promise.all([this.redis.ping(), this.subscriber.ping(), this.durable?.connection.ping()]),
        late,
      ]);
    } catch (error) {
      // "max retries per request" says less than the connection's own error (ECONNREFUSED, WRONGPASS).
      const cause = this.lastError ?? error;
      if (cause !== error && error instanceof Error && error.message.startsWith('no answer from Redis')) {
        // A Cluster's "Failed to refresh slots cache" carries the node's own answer.
        const node = (cause as { lastNodeError?: Error }).lastNodeError;
        const detail = node === undefined ? '' : `: ${node.message}`;
        throw new Error(`${error.message} (last error: ${(cause as Error).message}${detail})`);
      }
      throw cause;
    } finally {
      clearTimeout(timer);
    }
  }

  private lastError: Error | null = null;

  async publish(channel: string, data: string, options: PublishOptions): Promise<Publication> {
    const from =
      options.from === null ? '' : JSON.stringify({ s: options.from.session, u: options.from.user });
    const meta = this.key(channel, 'm');
    const key = options.idempotencyKey;
    const durable = this.durable;
    const answer = await (durable?.connection ?? this.redis).conduitPublish(
      meta,
      this.key(channel, 's'),
      key === undefined ? meta : this.key(channel, `k:${key}`),
      data,
      from,
      this.maxCount,
      this.maxAgeMs,
      this.keyTtlMs,
      this.newEpoch(),
      this.pubChannel(channel),
      key === undefined ? '0' : '1',
      Math.max(this.channelTtlMs, this.maxAgeMs),
      durable === null ? '0' : '1',
    );
    let publication: Publication;
    if (answer[0] === 0) {
      const [epoch, offset, time] = answer[1].split(' ');
      publication = {
        channel,
        epoch: epoch!,
        offset: Number(offset),
        time: Number(time),
        data,
        from: options.from,
      };
    } else {
      const [, epoch, offset, time] = answer;
      publication = { channel, epoch, offset: Number(offset), time: Number(time), data, from: options.from };
    }
    if (durable !== null) await this.publishReplicated(durable, publication, from);
    return publication;
  }

  /**
   * `replicas` mode: once enough replicas have the entry, send it to subscribers (a duplicate too: its
   * first try may have failed here, and a subscriber ignores an offset it has).
   */
  private async publishReplicated(
    durable: NonNullable<RedisBroker['durable']>,
    publication: Publication,
    from: string,
  ): Promise<void> {
    const confirmed = await durable.connection.wait(durable.count, durable.timeoutMs);
    if (confirmed < durable.count) {
      throw new Error(
        `${confirmed} of ${durable.count} replicas confirmed the publish within ${durable.timeoutMs} ms`,
      );
    }
    const { epoch, offset, time, data } = publication;
    const message = `m${JSON.stringify({ e: epoch, o: offset, t: time, d: data, f: from })}`;
    await durable.connection.publish(this.pubChannel(publication.channel), message);
  }

  async recover(channel: string, since: StreamPosition | null): Promise<Recovery> {
    // A SUBSCRIBE under way completes first: what is published after this read arrives by pub/sub.
    // One that failed is tried again; a recovery without it would miss what comes next.
    if (!(await this.subscribed(channel))) {
      throw new Error(`Redis pub/sub: SUBSCRIBE to ${this.pubChannel(channel)} failed`);
    }
    const [epoch, topOffset, entries] = await this.redis.conduitRecover(
      this.key(channel, 'm'),
      this.key(channel, 's'),
      since === null ? '' : since.epoch,
      since === null ? 0 : since.offset,
      this.newEpoch(),
      Math.max(this.channelTtlMs, this.maxAgeMs),
    );
    const top = { epoch, offset: Number(topOffset) };
    const kept = entries.reverse().map((entry) => this.entryPublication(channel, epoch, entry));
    if (since === null) return { recovered: true, top, publications: [] };
    if (since.epoch !== epoch) return { recovered: false, reason: 'epoch', top, publications: kept };
    if (since.offset > top.offset) return { recovered: false, reason: 'future', top, publications: [] };
    if (since.offset === top.offset) return { recovered: true, top, publications: [] };
    const oldest = kept.length > 0 ? kept[0]!.offset : top.offset + 1;
    if (since.offset < oldest - 1) return { recovered: false, reason: 'trimmed', top, publications: kept };
    return { recovered: true, top, publications: kept };
  }

  async listen(channel: string): Promise<void> {
    const entry = this.listening.get(channel);
    if (entry !== undefined) {
      entry.count++;
      await this.subscribed(channel);
      return;
    }
    const created: Listening = { count: 1, ok: null, subscribed: Promise.resolve(false) };
    this.listening.set(channel, created);
    await this.subscribeTo(channel, created);
  }

  /** Send a channel's SUBSCRIBE; it resolves (never rejects) to whether it went through. */
  private subscribeTo(channel: string, entry: Listening): Promise<boolean> {
    entry.ok = null;
    const pubChannel = this.pubChannel(channel);
    const sent = this.sharded
      ? this.subscriber.ssubscribe(pubChannel)
      : this.subscriber.subscribe(pubChannel);
    entry.subscribed = sent.then(
      () => (entry.ok = true),
      () => {
        entry.ok = false;
        // Failed on a connection that is up again (or never went down): once more in a second. One
        // that is down sends it again on 'ready'.
        if (this.subscriber.status === 'ready') {
          setTimeout(() => {
            if (entry.ok === false && this.listening.get(channel) === entry) this.subscribeTo(channel, entry);
          }, 1000).unref();
        }
        return false;
      },
    );
    return entry.subscribed;
  }

  /**
   * Whether a channel listened to is subscribed: waits for its SUBSCRIBE, and tries a failed one once
   * more (one try at a time). True for a channel not listened to (nothing to wait for).
   */
  private async subscribed(channel: string): Promise<boolean> {
    const entry = this.listening.get(channel);
    if (entry === undefined || (await entry.subscribed)) return true;
    if (entry.ok === false) this.subscribeTo(channel, entry);
    return entry.subscribed;
  }

  async unlisten(channel: string): Promise<void> {
    const entry = this.listening.get(channel);
    if (entry === undefined) return;
    if (--entry.count > 0) return;
    this.listening.delete(channel);
    const pubChannel = this.pubChannel(channel);
    const sent = this.sharded
      ? this.subscriber.sunsubscribe(pubChannel)
      : this.subscriber.unsubscribe(pubChannel);
    await sent.catch(() => undefined);
  }

  onPublication(handler: (publication: Publication) => void): void {
    this.publicationHandlers.push(handler);
  }

  async join(channel: string, member: PresenceMember): Promise<boolean> {
    let members = this.local.get(channel);
    if (members === undefined) {
      members = new Map();
      this.local.set(channel, members);
    }
    members.set(member.session, member);
    return (await this.joinRemote(channel, member)) === 1;
  }

  async leave(channel: string, session: string): Promise<boolean> {
    const members = this.local.get(channel);
    members?.delete(session);
    if (members?.size === 0) this.local.delete(channel);
    const removed = await this.redis.conduitLeave(
      this.key(channel, 'p'),
      this.key(channel, 'pd'),
      session,
      this.pubChannel(channel),
    );
    return removed === 1;
  }

  forget(channel: string, session: string): void {
    const members = this.local.get(channel);
    members?.delete(session);
    if (members?.size === 0) this.local.delete(channel);
  }

  async members(channel: string): Promise<readonly PresenceMember[]> {
    const sessions = await this.redis.zrangebyscore(this.key(channel, 'p'), Date.now(), '+inf');
    if (sessions.length === 0) return [];
    const users = await this.redis.hmget(this.key(channel, 'pd'), ...sessions);
    return sessions.map((session, i) => ({ session, user: parseUser(users[i] ?? 'null') }));
  }

  onResync(handler: () => void): void {
    this.resyncHandlers.push(handler);
  }

  onPresence(handler: PresenceHandler): void {
    this.presenceHandlers.push(handler);
  }

  /** Drop both connections at once (no goodbye to Redis, no leave for this node's members). */
  disconnect(): void {
    clearInterval(this.timer);
    this.durable?.connection.disconnect();
    this.subscriber.disconnect();
    this.redis.disconnect();
  }

  /**
   * Stop. This node's presence members are not removed: their sessions move to other nodes (whose
   * clients reconnect there), which keep them without a leave and join; those that do not come back
   * expire after `presenceTtlMs`.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.local.clear();
    this.durable?.connection.disconnect();
    this.subscriber.disconnect();
    // A polite QUIT, but not waiting on a Redis that is gone (ioredis would queue it until it is back).
    const quit = this.redis.quit().then(
      () => undefined,
      () => undefined,
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
    });
    await Promise.race([quit, late]);
    clearTimeout(timer);
    this.redis.disconnect();
  }

  // Internals ---------------------------------------------------------------------------------------

  /** A key of `channel`; the hash tag keeps a channel's keys in one Cluster slot. */
  private key(channel: string, suffix: string): string {
    return `${this.prefix}{${channel}}:${suffix}`;
  }

  private pubChannel(channel: string): string {
    return `${this.prefix}{${channel}}:pub`;
  }

  private joinRemote(channel: string, member: PresenceMember): Promise<number> {
    const now = Date.now();
    const user = JSON.stringify(member.user);
    return this.redis.conduitJoin(
      this.key(channel, 'p'),
      this.key(channel, 'pd'),
      member.session,
      user,
      now + this.presenceTtlMs,
      now,
      this.pubChannel(channel),
      JSON.stringify({ s: member.session, u: user }),
      Math.max(10 * this.presenceTtlMs, 60_000),
    );
  }

  /** Refresh this node's members; reap the expired ones of the channels listened to. */
  private async housekeeping(): Promise<void> {
    const work: Promise<unknown>[] = [];
    for (const [channel, members] of this.local) {
      for (const member of members.values()) work.push(this.joinRemote(channel, member));
    }
    const now = Date.now();
    for (const channel of this.listening.keys()) {
      work.push(
        this.redis.conduitReap(
          this.key(channel, 'p'),
          this.key(channel, 'pd'),
          now,
          this.pubChannel(channel),
        ),
      );
    }
    await Promise.allSettled(work);
  }

  private received(pubChannel: string, message: string): void {
    const channel = this.channelOf(pubChannel);
    if (channel === null) return;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(message.slice(1)) as Record<string, unknown>;
    } catch {
      return;
    }
    const kind = message[0];
    if (kind === 'm') {
      const publication: Publication = {
        channel,
        epoch: String(body.e),
        offset: Number(body.o),
        time: Number(body.t),
        data: String(body.d),
        from: parseFrom(String(body.f ?? '')),
      };
      for (const handler of this.publicationHandlers) handler(publication);
    } else if (kind === 'j' || kind === 'l') {
      const member: PresenceMember = { session: String(body.s), user: parseUser(String(body.u ?? 'null')) };
      for (const handler of this.presenceHandlers) handler(channel, kind === 'j' ? 'join' : 'leave', member);
    }
  }

  private channelOf(pubChannel: string): string | null {
    const start = this.prefix.length + 1;
    if (!pubChannel.startsWith(`${this.prefix}{`) || !pubChannel.endsWith('}:pub')) return null;
    return pubChannel.slice(start, -'}:pub'.length);
  }

  private entryPublication(channel: string, epoch: string, [id, fields]: [string, string[]]): Publication {
    const dash = id.indexOf('-');
    let data = '';
    let from = '';
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'd') data = fields[i + 1]!;
      else if (fields[i] === 'f') from = fields[i + 1]!;
    }
    return {
      channel,
      epoch,
      offset: Number(id.slice(dash + 1)),
      time: Number(id.slice(0, dash)),
      data,
      from: parseFrom(from),
    };
  }
}

/** A script's PUBLISH calls as SPUBLISH (Redis Cluster: to the shard of the channel's keys only). */
function shardedPublish(lua: string): string {
  return lua.replaceAll("redis.call('PUBLISH',", "redis.call('SPUBLISH',");
}

function parseFrom(text: string): PublisherInfo | null {
  if (text === '') return null;
  try {
    const value = JSON.parse(text) as { s?: unknown; u?: unknown };
    return { session: String(value.s), user: typeof value.u === 'string' ? value.u : null };
  } catch {
    return null;
  }
}

function parseUser(text: string): string | null {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}
