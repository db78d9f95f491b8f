/**
 * The in-memory broker: one process, no dependency, the default. History per channel (history.ts),
 * a bounded memory of idempotency keys, presence in maps. Its epoch is new at every start (random,
 * injected), so a client resuming against a restarted server learns that its offsets are gone
 * (`recovered: false`, reason 'epoch') instead of receiving wrong ones.
 *
 * Bounds: channels with history are bounded in number (`maxChannels`; past it the channel listened to
 * by nobody and least recently published goes first), every history by HistoryLimits, all of them
 * together by `maxHistoryBytes` (data plus PUBLICATION_OVERHEAD a publication; past it the histories
 * of channels nobody listens to go first, least recently published first, then the oldest
 * publications of the least recently published channels), the keys by `maxIdempotencyKeys` (oldest
 * forgotten first) and their age. A key keeps what an ack needs (epoch, offset, time), never the data:
 * the key is hashed to a fixed size, so 100,000 keys cost about 20 MiB whatever their channels and
 * users.
 */
import { createHash } from 'node:crypto';
import type { Broker, PresenceMember, PublishOptions } from '../broker.js';
import {
  ChannelHistory,
  type HistoryLimits,
  type Publication,
  type Recovery,
  type StreamPosition,
} from '../history.js';

export interface MemoryBrokerOptions {
  history?: HistoryLimits;
  /** Channels whose history is kept. Default 10,000. */
  maxChannels?: number;
  /**
   * Memory of all histories together, bytes: data plus PUBLICATION_OVERHEAD (256) per publication.
   * Past it, idle channels' histories go first (their subscribers resuming learn it: recovered false,
   * 'epoch'), then the oldest publications of the least recently published channels ('trimmed').
   * Default 256 MiB.
   */
  maxHistoryBytes?: number;
  /** Idempotency keys remembered. Default 100,000. */
  maxIdempotencyKeys?: number;
  /** How long a key is remembered, ms. Default 5 minutes. */
  idempotencyTtlMs?: number;
  /** The clock, ms. Default Date.now. */
  now?: () => number;
  /** Makes an epoch (a short random string). Default: 8 random base-36 characters from crypto. */
  newEpoch?: () => string;
}

export class MemoryBroker implements Broker {
  private readonly histories = new Map<string, ChannelHistory>();
  private readonly listening = new Map<string, number>();
  /** Each history's footprint as last measured, bytes, summed in `historyBytes`. */
  private readonly footprints = new Map<ChannelHistory, number>();
  private historyBytes = 0;
  private readonly keys = new Map<string, RememberedPublish>();
  private readonly presence = new Map<string, Map<string, PresenceMember>>();
  private readonly publicationHandlers: ((publication: Publication) => void)[] = [];
  private readonly presenceHandlers: ((
    channel: string,
    change: 'join' | 'leave',
    member: PresenceMember,
  ) => void)[] = [];
  private readonly limits: HistoryLimits;
  private readonly maxChannels: number;
  private readonly maxHistoryBytes: number;
  private readonly maxKeys: number;
  private readonly keyTtl: number;
  private readonly now: () => number;
  private readonly newEpoch: () => string;

  constructor(options: MemoryBrokerOptions = {}) {
    this.limits = options.history ?? {};
    this.maxChannels = options.maxChannels ?? 10_000;
    this.maxHistoryBytes = options.maxHistoryBytes ?? 256 * 1024 * 1024;
    this.maxKeys = options.maxIdempotencyKeys ?? 100_000;
    this.keyTtl = options.idempotencyTtlMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
    this.newEpoch = options.newEpoch ?? randomEpoch;
  }

  async publish(channel: string, data: string, options: PublishOptions): Promise<Publication> {
    const key = options.idempotencyKey === undefined ? undefined : digest(options.idempotencyKey);
    if (key !== undefined) {
      const seen = this.keys.get(key);
      if (seen !== undefined && this.now() - seen.at <= this.keyTtl) {
        // The first publish's position; the data is this retry's (the same, from the same client).
        return { channel, epoch: seen.epoch, offset: seen.offset, time: seen.time, data, from: options.from };
      }
    }
    const history = this.history(channel);
    const publication = history.append(data, options.from);
    this.measure(history);
    if (this.historyBytes > this.maxHistoryBytes) this.shed(history);
    if (key !== undefined) this.remember(key, publication);
    if ((this.listening.get(channel) ?? 0) > 0) {
      for (const handler of this.publicationHandlers) handler(publication);
    }
    return publication;
  }

  async recover(channel: string, since: StreamPosition | null): Promise<Recovery> {
    const history = this.history(channel);
    if (since === null) return { recovered: true, top: history.top, publications: [] };
    return history.since(since);
  }

  async listen(channel: string): Promise<void> {
    this.listening.set(channel, (this.listening.get(channel) ?? 0) + 1);
  }

  async unlisten(channel: string): Promise<void> {
    const n = (this.listening.get(channel) ?? 0) - 1;
    if (n > 0) this.listening.set(channel, n);
    else this.listening.delete(channel);
  }

  onPublication(handler: (publication: Publication) => void): void {
    this.publicationHandlers.push(handler);
  }

  async join(channel: string, member: PresenceMember): Promise<boolean> {
    let members = this.presence.get(channel);
    if (members === undefined) {
      members = new Map();
      this.presence.set(channel, members);
    }
    const added = !members.has(member.session);
    members.set(member.session, member);
    if (added) for (const handler of this.presenceHandlers) handler(channel, 'join', member);
    return added;
  }

  async leave(channel: string, session: string): Promise<boolean> {
    const members = this.presence.get(channel);
    const member = members?.get(session);
    if (members === undefined || member === undefined) return false;
    members.delete(session);
    if (members.size === 0) this.presence.delete(channel);
    for (const handler of this.presenceHandlers) handler(channel, 'leave', member);
    return true;
  }

  async members(channel: string): Promise<readonly PresenceMember[]> {
    return [...(this.presence.get(channel)?.values() ?? [])];
  }

  onPresence(handler: (channel: string, change: 'join' | 'leave', member: PresenceMember) => void): void {
    this.presenceHandlers.push(handler);
  }

  /** Memory held by all histories now (data plus overhead), bytes, as last measured. */
  get historyFootprint(): number {
    return this.historyBytes;
  }

  /** Idempotency keys remembered now. */
  get idempotencyKeys(): number {
    return this.keys.size;
  }

  async close(): Promise<void> {
    this.histories.clear();
    this.footprints.clear();
    this.historyBytes = 0;
    this.keys.clear();
    this.presence.clear();
  }

  /** The channel's history, created (with a new epoch) if needed; most recently used last. */
  private history(channel: string): ChannelHistory {
    let history = this.histories.get(channel);
    if (history === undefined) {
      history = new ChannelHistory(channel, this.newEpoch(), this.limits, this.now);
      if (this.histories.size >= this.maxChannels) this.evictOne();
      this.footprints.set(history, 0);
    } else {
      this.histories.delete(channel);
    }
    this.histories.set(channel, history);
    return history;
  }

  /** Drop the least recently used history nobody listens to (or, if all are listened to, the least recent). */
  private evictOne(): void {
    for (const channel of this.histories.keys()) {
      if (!this.listening.has(channel)) {
        this.drop(channel);
        return;
      }
    }
    const first = this.histories.keys().next();
    if (first.done !== true) this.drop(first.value);
  }

  private drop(channel: string): void {
    const history = this.histories.get(channel);
    if (history === undefined) return;
    this.histories.delete(channel);
    this.historyBytes -= this.footprints.get(history) ?? 0;
    this.footprints.delete(history);
  }

  /** Bring the history's accounted footprint up to date (it shrinks as publications age out). */
  private measure(history: ChannelHistory): void {
    const now = history.footprint;
    this.historyBytes += now - (this.footprints.get(history) ?? 0);
    this.footprints.set(history, now);
  }

  /**
   * Over maxHistoryBytes: down to 90% of it (so that shedding is rare, not once per publish), by
   * dropping the histories of channels nobody listens to, least recently published first (measuring
   * each on the way: aged publications may have gone already), then the oldest publications of the
   * least recently published channels. `current` (just published to) keeps its history if it can.
   */
  private shed(current: ChannelHistory): void {
    const target = this.maxHistoryBytes * 0.9;
    for (const [channel, history] of this.histories) {
      if (this.historyBytes <= target) return;
      this.measure(history);
      if (history !== current && !this.listening.has(channel)) this.drop(channel);
    }
    for (const history of this.histories.values()) {
      while (this.historyBytes > target && history.dropOldest()) this.measure(history);
      if (this.historyBytes <= target) return;
    }
  }

  private remember(key: string, publication: Publication): void {
    this.keys.set(key, {
      epoch: publication.epoch,
      offset: publication.offset,
      time: publication.time,
      at: this.now(),
    });
    // Oldest first out: Map keeps insertion order.
    while (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
  }
}

/** What a duplicate publish is answered with: the first one's position, never its data. */
interface RememberedPublish {
  readonly epoch: string;
  readonly offset: number;
  readonly time: number;
  readonly at: number;
}

/** A key of any length as 22 characters (128 bits of SHA-256): a key's memory does not grow with it. */
function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 22);
}

function randomEpoch(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(6));
  let out = '';
  for (const b of bytes) out += b.toString(36).padStart(2, '0');
  return out;
}
