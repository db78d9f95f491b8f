/**
 * One channel's recent history for Server-Sent Events: every published message gets the next id
 * (1, 2, 3, ...), and the last `capacity` are kept so that a client reconnecting with Last-Event-ID
 * receives exactly what it missed: none lost, none repeated, in order. When the id it names is no
 * longer covered (older than the buffer, or not one this log gave out), the answer says so.
 * No I/O: the server composes it with SseStream.
 */

export interface LoggedEvent {
  readonly id: number;
  readonly data: string;
  /** UTF-8 size of `data`, counted against the log's byte bound. */
  readonly bytes: number;
}

export type Replay =
  /** Every event after the client's id (possibly none). */
  | { readonly complete: true; readonly events: readonly LoggedEvent[] }
  /**
   * The client's id is not covered: `events` is the whole buffer; what came between its id and
   * `oldest` is gone (or the id is unknown, e.g. from before a restart).
   */
  | {
      readonly complete: false;
      readonly requested: string;
      readonly oldest: number | null;
      readonly events: readonly LoggedEvent[];
    };

export class ChannelLog {
  private readonly ring: (LoggedEvent | undefined)[];
  /** Index in `ring` of the oldest kept event. */
  private start = 0;
  private size = 0;
  private last = 0;
  private bytes = 0;

  /**
   * Keep at most `capacity` events and, oldest first out, at most `maxBytes` of their data (the
   * latest event is always kept, whatever its size). `lastId`: the id the log continues after (a
   * channel that was dropped and comes back keeps counting, so no id is given out twice and a client
   * that saw the old ones is told of the gap).
   */
  constructor(
    readonly capacity: number,
    readonly maxBytes = Number.POSITIVE_INFINITY,
    lastId = 0,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be >= 1');
    if (!(maxBytes > 0)) throw new RangeError('maxBytes must be > 0');
    if (!Number.isSafeInteger(lastId) || lastId < 0) throw new RangeError('lastId must be an integer >= 0');
    this.ring = new Array<LoggedEvent | undefined>(capacity);
    this.last = lastId;
  }

  /** UTF-8 bytes of the kept events' data. */
  get keptBytes(): number {
    return this.bytes;
  }

  /** The id of the latest event (0 before the first). */
  get lastId(): number {
    return this.last;
  }

  /** The id of the oldest kept event, or null when none is kept. */
  get oldestId(): number | null {
    return this.size === 0 ? null : this.last - this.size + 1;
  }

  publish(data: string): LoggedEvent {
    const event: LoggedEvent = { id: ++this.last, data, bytes: Buffer.byteLength(data) };
    if (this.size === this.capacity) this.dropOldest();
    this.ring[(this.start + this.size) % this.capacity] = event;
    this.size++;
    this.bytes += event.bytes;
    while (this.bytes > this.maxBytes && this.size > 1) this.dropOldest();
    return event;
  }

  /** Forget the oldest kept event, unless it is the only one (the latest is always kept). */
  trimOldest(): boolean {
    if (this.size <= 1) return false;
    this.dropOldest();
    return true;
  }

  private dropOldest(): void {
    const oldest = this.ring[this.start]!;
    this.ring[this.start] = undefined;
    this.start = (this.start + 1) % this.capacity;
    this.size--;
    this.bytes -= oldest.bytes;
  }

  /**
   * What a client that last saw `lastEventId` must receive. null (a first connection) gets nothing
   * from the past: it starts with the next event.
   */
  since(lastEventId: string | null): Replay {
    if (lastEventId === null) return { complete: true, events: [] };
    const n = /^(0|[1-9][0-9]{0,15})$/.test(lastEventId) ? Number(lastEventId) : Number.NaN;
    const oldest = this.oldestId;
    // Covered: n is the latest id, or at most one before the oldest kept event.
    if (n === this.last) return { complete: true, events: [] };
    if (n < this.last && n >= (oldest ?? this.last + 1) - 1) {
      return { complete: true, events: this.from(n + 1) };
    }
    return { complete: false, requested: lastEventId, oldest, events: this.from(oldest ?? this.last + 1) };
  }

  /** Kept events with id >= `id`, in order. */
  private from(id: number): LoggedEvent[] {
    const oldest = this.oldestId;
    if (oldest === null || id > this.last) return [];
    const skip = Math.max(0, id - oldest);
    const out: LoggedEvent[] = [];
    for (let i = skip; i < this.size; i++) out.push(this.ring[(this.start + i) % this.capacity]!);
    return out;
  }
}
