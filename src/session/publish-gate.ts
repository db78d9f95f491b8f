/**
 * Bounds the client publishes waiting for the broker (a slow or unreachable Redis) and keeps each
 * session's order: at most `inFlightPerSession` of one session and `inFlight` of all are with the broker
 * at once; the others wait in their session's queue, first in first out, and start as earlier ones
 * finish. A queue holds at most `queuedPerSession` publishes and all queues together `queuedBytes` of
 * data; past that `submit` refuses (the hub then sends the session away: its client resends in order).
 *
 * Starting a session's publishes in the order they came is what keeps their offsets in that order:
 * the broker assigns offsets in the order it is called.
 */

export interface PublishGateLimits {
  /** Publishes of one session with the broker at once. Default 100. */
  inFlightPerSession?: number;
  /** Publishes of all sessions with the broker at once. Default 10,000. */
  inFlight?: number;
  /** Publishes one session may have queued behind those. Default 1,000. */
  queuedPerSession?: number;
  /** Data (UTF-16 code units) of every queued publish together. Default 64 Mi. */
  queuedBytes?: number;
}

interface Queued {
  run: () => Promise<void>;
  bytes: number;
}

interface KeyState {
  inFlight: number;
  queue: Queued[];
}

export class PublishGate<K> {
  private readonly inFlightPerKey: number;
  private readonly inFlightMax: number;
  private readonly queuedPerKey: number;
  private readonly queuedBytesMax: number;
  private readonly keys = new Map<K, KeyState>();
  /** Keys with queued publishes, in the order they started waiting. */
  private readonly waiting = new Set<K>();
  private running = 0;
  private queuedBytes = 0;
  private queuedCount = 0;
  /** Some key waits because all keys together were at `inFlight` (not only at its own bound). */
  private globalBlocked = false;

  /** A key's queue length when it starts to wait for its senders (pause reading), and when it stops. */
  readonly pauseAt: number;
  readonly resumeAt: number;

  /**
   * `onShrunk` is told a key's queue length each time one of its publishes leaves the queue (or the
   * queue is dropped): the hub resumes reading from a client it paused.
   */
  constructor(
    limits: PublishGateLimits = {},
    private readonly onShrunk: (key: K, queued: number) => void = () => undefined,
  ) {
    this.inFlightPerKey = limits.inFlightPerSession ?? 100;
    this.inFlightMax = limits.inFlight ?? 10_000;
    this.queuedPerKey = limits.queuedPerSession ?? 1000;
    this.queuedBytesMax = limits.queuedBytes ?? 64 * 1024 * 1024;
    // Well under the bound: what a client already sent (one read, up to 64 KiB of small messages)
    // still fits after reading stops.
    this.pauseAt = Math.max(1, Math.min(100, Math.floor(this.queuedPerKey / 4)));
    this.resumeAt = Math.floor(this.pauseAt / 2);
  }

  /** Publishes `key` has queued now. */
  queuedOf(key: K): number {
    return this.keys.get(key)?.queue.length ?? 0;
  }

  /** Publishes with the broker now. */
  get inFlight(): number {
    return this.running;
  }

  /** Publishes queued behind them now. */
  get queued(): number {
    return this.queuedCount;
  }

  /**
   * Run `run` once the bounds allow and every earlier publish of `key` has started. False when it
   * cannot even be queued (the key's queue or the bytes of all queues are full): nothing was kept.
   */
  submit(key: K, bytes: number, run: () => Promise<void>): boolean {
    let state = this.keys.get(key);
    if (state === undefined) {
      state = { inFlight: 0, queue: [] };
      this.keys.set(key, state);
    }
    if (state.queue.length === 0 && this.canStart(state)) {
      this.start(key, state, run);
      return true;
    }
    if (state.queue.length >= this.queuedPerKey || this.queuedBytes + bytes > this.queuedBytesMax) {
      this.forgetIfIdle(key, state);
      return false;
    }
    if (state.inFlight < this.inFlightPerKey) this.globalBlocked = true;
    state.queue.push({ run, bytes });
    this.queuedBytes += bytes;
    this.queuedCount++;
    this.waiting.add(key);
    return true;
  }

  /** Forget what `key` has queued (its session ended or was sent away); what is in flight finishes. */
  drop(key: K): void {
    const state = this.keys.get(key);
    if (state === undefined) return;
    for (const queued of state.queue) this.queuedBytes -= queued.bytes;
    this.queuedCount -= state.queue.length;
    state.queue = [];
    this.waiting.delete(key);
    this.forgetIfIdle(key, state);
    this.onShrunk(key, 0);
  }

  private canStart(state: KeyState): boolean {
    return state.inFlight < this.inFlightPerKey && this.running < this.inFlightMax;
  }

  private start(key: K, state: KeyState, run: () => Promise<void>): void {
    state.inFlight++;
    this.running++;
    const done = (): void => {
      state.inFlight--;
      this.running--;
      // When the bound of all held keys back, they go in the order they waited (no key starves);
      // otherwise only this key can have been held (at its own bound): its next, O(1).
      if (this.globalBlocked) this.pump();
      else this.startQueued(key, state);
      this.forgetIfIdle(key, state);
    };
    // `run` handles its own errors (it answers the client); a throw must not stall the gate.
    Promise.resolve().then(run).then(done, done);
  }

  /**
   * Start what the bound of all allows now, one publish per key in turn (a key that started one goes
   * to the back of the line): no key starves another.
   */
  private pump(): void {
    this.globalBlocked = false;
    for (const key of this.waiting) {
      if (this.running >= this.inFlightMax) {
        this.globalBlocked = true;
        return;
      }
      const state = this.keys.get(key);
      if (state === undefined) {
        this.waiting.delete(key);
        continue;
      }
      if (!this.canStart(state)) continue;
      this.startNext(key, state);
      this.waiting.delete(key);
      if (state.queue.length > 0) this.waiting.add(key);
    }
  }

  /** Start `key`'s queued publishes while its bound and the bound of all allow. */
  private startQueued(key: K, state: KeyState): void {
    while (state.queue.length > 0 && this.canStart(state)) this.startNext(key, state);
    if (state.queue.length === 0) this.waiting.delete(key);
    else if (state.inFlight < this.inFlightPerKey) this.globalBlocked = true;
  }

  private startNext(key: K, state: KeyState): void {
    const next = state.queue.shift()!;
    this.queuedBytes -= next.bytes;
    this.queuedCount--;
    this.start(key, state, next.run);
    this.onShrunk(key, state.queue.length);
  }

  private forgetIfIdle(key: K, state: KeyState): void {
    if (state.inFlight === 0 && state.queue.length === 0 && this.keys.get(key) === state)
      this.keys.delete(key);
  }
}
