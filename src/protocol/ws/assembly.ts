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
 * A payload that arrives in several reads is unmasked straight into place (`pushMasked`: one pass,
 * as it is copied), so a large message costs one pass over its bytes, not an unmask and a copy.
 *
 * Growth: capacity is at most GROWTH_EVIDENCE (8) times the bytes received (or MIN_CAPACITY), and
 * never past maxPayload. Until a frame's declared end is within that, capacity grows 4x at a time;
 * once the bytes received are an eighth of it, the buffer takes the frame's declared end at once (one
 * copy of an eighth, then every byte lands in place), and across fragments it doubles.
 */

import { maskInto } from '../../util/mask.js';

/** The first allocation of an assembly, bytes: a small message split across reads fits it. */
export const MIN_CAPACITY = 16 * 1024;
/** Capacity is at most this many times the bytes received (see the header). */
export const GROWTH_EVIDENCE = 8;

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
   * Add the next piece, unmasked. `target` is where the current frame ends within the message (its
   * declared end) and `cap` the most the message may be (that end for a final frame, else maxPayload;
   * checked by the caller already): capacity never grows past `cap`. May throw a RangeError when
   * memory cannot be allocated, or BudgetExceededError when the shared budget has no room: the caller
   * fails its connection, never the process.
   */
  push(piece: Buffer, target: number, cap: number): void {
    if (piece.length === 0) return;
    if (this.single === null && this.buffer === null) {
      this.single = piece;
      return;
    }
    this.ensure(this.length + piece.length, target, cap);
    piece.copy(this.buffer!, this.filled);
    this.filled += piece.length;
  }

  /**
   * Add the next piece still masked: it is unmasked as it is copied into place (`key` and `phase` as
   * for maskInto). Returns the unmasked bytes (a view into the assembly) for validation. Throws as push.
   */
  pushMasked(source: Buffer, key: Uint8Array, phase: number, target: number, cap: number): Buffer {
    const at = this.length;
    this.ensure(at + source.length, target, cap);
    maskInto(source, key, this.buffer!, at, phase);
    this.filled = at + source.length;
    return this.buffer!.subarray(at, this.filled);
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

  /** Room for `needed` bytes in `buffer` (the single view, if any, copied in first). */
  private ensure(needed: number, target: number, cap: number): void {
    if (this.buffer !== null && needed <= this.buffer.length) return;
    const current = this.buffer === null ? 0 : this.buffer.length;
    let capacity =
      needed * GROWTH_EVIDENCE >= target
        ? Math.max(target, Math.min(2 * current, cap))
        : Math.min(target, Math.max(MIN_CAPACITY, 4 * needed));
    capacity = Math.max(needed, Math.min(capacity, cap));
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
