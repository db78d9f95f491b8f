/**
 * A message's payload being received, across reads and fragments. Memory grows with the bytes that
 * arrived, never with the lengths a peer declares: a header announcing 16 MiB followed by one byte
 * costs one byte and a small buffer, not 16 MiB. And a fragment costs its bytes only: pieces are copied
 * into one buffer as they come rather than kept as a list of views (a view is ~100 bytes of object for
 * what may be a 1-byte fragment).
 *
 * A payload that arrives whole, in one read and one frame (the common case), is handed on as the view
 * the parser gave, without a copy.
 *
 * Growth: the first copy allocates at least MIN_CAPACITY (or the bound, if smaller), then capacity
 * doubles as bytes arrive, never past the bound the caller gives (the declared length of a final
 * frame, else maxPayload). At any time the buffer is at most twice what arrived (or MIN_CAPACITY).
 */

/** The first allocation of an assembly, bytes: a small message split across reads fits it. */
export const MIN_CAPACITY = 16 * 1024;

/**
 * Memory shared by the messages being received on many connections (a server's): an assembly reserves
 * what it allocates and gives it back when its message is handed on or dropped. No I/O: a counter.
 */
export class AssemblyBudget {
  private used = 0;

  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new RangeError('an assembly budget must be > 0 bytes');
  }

  /** Bytes held by messages being received now. */
  get inUse(): number {
    return this.used;
  }

  reserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }
}

/** The shared budget has no room for this message to grow: the connection fails with 1013. */
export class BudgetExceededError extends Error {
  override readonly name = 'BudgetExceededError';
}

export class MessageAssembly {
  /** The only piece so far, kept as a view (no copy unless a second piece comes). */
  private single: Buffer | null = null;
  private buffer: Buffer | null = null;
  private filled = 0;

  /** `budget`: shared with other connections' assemblies (their buffers count against it). */
  constructor(private readonly budget: AssemblyBudget | null = null) {}

  /** Bytes received so far. */
  get length(): number {
    return this.single !== null ? this.single.length : this.filled;
  }

  /**
   * Add the next piece. `bound` is the most the whole payload can be (checked by the caller against
   * maxPayload already), so capacity never grows past it. May throw a RangeError when memory cannot be
   * allocated, or BudgetExceededError when the shared budget has no room: the caller fails its
   * connection, never the process.
   */
  push(piece: Buffer, bound: number): void {
    if (piece.length === 0) return;
    if (this.single === null && this.buffer === null) {
      this.single = piece;
      return;
    }
    const needed = this.length + piece.length;
    if (this.buffer === null || needed > this.buffer.length) this.grow(needed, bound);
    piece.copy(this.buffer!, this.filled);
    this.filled += piece.length;
  }

  /** The payload, and the assembly emptied for the next message (its buffer is handed on, not reused). */
  take(): Buffer {
    let out: Buffer;
    if (this.single !== null) out = this.single;
    else if (this.buffer !== null) out = this.buffer.subarray(0, this.filled);
    else out = EMPTY;
    // Handed on: no longer a message being received (reset gives its capacity back to the budget).
    this.reset();
    return out;
  }

  /** Drop what was received (the connection failed or closed). */
  reset(): void {
    if (this.buffer !== null) this.budget?.release(this.buffer.length);
    this.single = null;
    this.buffer = null;
    this.filled = 0;
  }

  private grow(needed: number, bound: number): void {
    const current = this.buffer === null ? 0 : this.buffer.length;
    const capacity = Math.max(needed, Math.min(Math.max(MIN_CAPACITY, current * 2), bound));
    if (this.budget !== null && !this.budget.reserve(capacity - current)) {
      throw new BudgetExceededError(
        `messages being received hold ${this.budget.inUse} of ${this.budget.limit} bytes`,
      );
    }
    let next: Buffer;
    try {
      next = Buffer.allocUnsafe(capacity);
    } catch (error) {
      this.budget?.release(capacity - current);
      throw error;
    }
    if (this.single !== null) {
      this.single.copy(next, 0);
      this.filled = this.single.length;
      this.single = null;
    } else if (this.buffer !== null) {
      this.buffer.copy(next, 0, 0, this.filled);
    }
    this.buffer = next;
  }
}

const EMPTY = Buffer.alloc(0);
