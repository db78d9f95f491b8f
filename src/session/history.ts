/**
 * One channel's history in the hub: every publication gets the channel's next *offset* (1, 2, 3, ...)
 * within an *epoch*, a string that changes whenever the history starts over (a restart of an
 * in-memory broker, a history lost in Redis), so that an offset of an old epoch is never taken for one
 * of the new. Kept: at most `maxCount` publications, none older than `maxAgeMs`, at most `maxBytes` of
 * data (the latest is always kept). A subscriber resuming from (epoch, offset) gets exactly the
 * publications after it, or an explicit answer that it cannot (`recovered: false`, and why).
 *
 * No I/O: the clock is injected. Brokers (brokers/memory.ts) hold one per channel.
 */

/** Who published, when a client did (the hub fills it in from the session). */
export interface PublisherInfo {
  readonly session: string;
  readonly user: string | null;
}

export interface Publication {
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
  readonly data: string;
  /** When it was published, ms (the history's clock). */
  readonly time: number;
  readonly from: PublisherInfo | null;
}

/** A position in a channel: the last publication a subscriber has (offset 0: none yet). */
export interface StreamPosition {
  readonly epoch: string;
  readonly offset: number;
}

export type Recovery =
  /** Every publication after the position, in order (possibly none). */
  | { readonly recovered: true; readonly top: StreamPosition; readonly publications: readonly Publication[] }
  /**
   * The position cannot be continued: 'epoch' (another epoch: the history started over), 'trimmed'
   * (what came after it is no longer kept), 'future' (an offset this epoch has not reached: bad
   * input). `publications` holds what is kept, oldest first, except for 'future'.
   */
  | {
      readonly recovered: false;
      readonly reason: 'epoch' | 'trimmed' | 'future';
      readonly top: StreamPosition;
      readonly publications: readonly Publication[];
    };

export interface HistoryLimits {
  /** Publications kept. Default 1000. */
  maxCount?: number;
  /** Age past which a publication is dropped, ms. Default 10 minutes. */
  maxAgeMs?: number;
  /** Bytes of data kept (UTF-8), the latest publication always. Default 16 MiB. */
  maxBytes?: number;
}

/**
 * What a kept publication costs besides its data, bytes: the Publication and its `from` objects, the
 * data string's header, its time, two array slots (the session id and user strings are the session's
 * own, shared). Measured on Node 20 at about 185 (test/session/brokers/memory-bounds.test.ts), rounded
 * up.
 */
export const PUBLICATION_OVERHEAD = 256;

export class ChannelHistory {
  private readonly kept: Publication[] = [];
  /** Index in `kept` of the oldest live entry (entries before it are dropped lazily). */
  private head = 0;
  private last = 0;
  private bytes = 0;
  private readonly sizes: number[] = [];
  private readonly maxCount: number;
  private readonly maxAgeMs: number;
  private readonly maxBytes: number;

  constructor(
    readonly channel: string,
    readonly epoch: string,
    limits: HistoryLimits,
    private readonly now: () => number,
  ) {
    this.maxCount = limits.maxCount ?? 1000;
    this.maxAgeMs = limits.maxAgeMs ?? 10 * 60_000;
    this.maxBytes = limits.maxBytes ?? 16 * 1024 * 1024;
    if (!Number.isSafeInteger(this.maxCount) || this.maxCount < 0)
      throw new RangeError('maxCount must be >= 0');
    if (!(this.maxAgeMs > 0)) throw new RangeError('maxAgeMs must be > 0');
    if (!(this.maxBytes > 0)) throw new RangeError('maxBytes must be > 0');
  }

  /** The latest position. */
  get top(): StreamPosition {
    return { epoch: this.epoch, offset: this.last };
  }

  /** Publications kept now. */
  get size(): number {
    this.trim();
    return this.kept.length - this.head;
  }

  /**
   * What the kept publications cost in memory, bytes, about: their data (UTF-8, an upper bound of
   * V8's own one- or two-byte strings) plus PUBLICATION_OVERHEAD each.
   */
  get footprint(): number {
    this.trim();
    return this.bytes + (this.kept.length - this.head) * PUBLICATION_OVERHEAD;
  }

  /**
   * Drop the oldest kept publication, even the latest (a node-wide memory cap needs it: history.ts's
   * own bounds keep the latest). False when nothing is kept.
   */
  dropOldest(): boolean {
    if (this.head >= this.kept.length) return false;
    this.bytes -= this.sizes[this.head]!;
    this.head++;
    this.compact();
    return true;
  }

  append(data: string, from: PublisherInfo | null): Publication {
    const publication: Publication = {
      channel: this.channel,
      epoch: this.epoch,
      offset: ++this.last,
      data,
      time: this.now(),
      from,
    };
    if (this.maxCount > 0) {
      const size = Buffer.byteLength(data);
      this.kept.push(publication);
      this.sizes.push(size);
      this.bytes += size;
    }
    this.trim();
    return publication;
  }

  /** What a subscriber at `position` must receive (see Recovery). */
  since(position: StreamPosition): Recovery {
    this.trim();
    const top = this.top;
    const all = (): Publication[] => this.kept.slice(this.head);
    if (position.epoch !== this.epoch) return { recovered: false, reason: 'epoch', top, publications: all() };
    if (position.offset > this.last) return { recovered: false, reason: 'future', top, publications: [] };
    if (position.offset === this.last) return { recovered: true, top, publications: [] };
    const oldest = this.head < this.kept.length ? this.kept[this.head]!.offset : this.last + 1;
    if (position.offset < oldest - 1)
      return { recovered: false, reason: 'trimmed', top, publications: all() };
    return {
      recovered: true,
      top,
      publications: this.kept.slice(this.head + (position.offset + 1 - oldest)),
    };
  }

  /** Drop what is over the count, the age or the bytes (the latest stays), and compact now and then. */
  private trim(): void {
    const oldestAllowed = this.now() - this.maxAgeMs;
    let live = this.kept.length - this.head;
    while (
      live > 0 &&
      (live > this.maxCount ||
        this.kept[this.head]!.time < oldestAllowed ||
        (this.bytes > this.maxBytes && live > 1))
    ) {
      this.bytes -= this.sizes[this.head]!;
      this.head++;
      live--;
    }
    this.compact();
  }

  private compact(): void {
    if (this.head > 64 && this.head * 2 > this.kept.length) {
      this.kept.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }
}
