/**
 * A process-wide bound on zlib work running in Node's thread pool at once (the workaround ws adopted
 * for zlib's memory fragmentation, and what keeps thousands of sockets from each holding a zlib job).
 *
 * Each connection submits at most one job per direction at a time and waits for it to finish before
 * submitting the next, so a job waiting here never reorders a connection's messages; the queue of
 * waiting jobs is bounded by twice the number of connections.
 */

type Job = () => void;

export class ZlibLimiter {
  private active = 0;
  private waiting: Job[] = [];
  private head = 0;

  constructor(private limit: number) {}

  get concurrency(): number {
    return this.limit;
  }

  set concurrency(value: number) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError('zlib concurrency must be an integer >= 1');
    this.limit = value;
    while (this.active < this.limit && this.head < this.waiting.length) this.startNext();
  }

  /** Jobs running, and jobs waiting for a slot. */
  get stats(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length - this.head };
  }

  /** Run `job` now or when a slot frees up; the job must call `release()` exactly once when done. */
  run(job: Job): void {
    if (this.active < this.limit) {
      this.active++;
      job();
      return;
    }
    this.waiting.push(job);
  }

  release(): void {
    this.active--;
    if (this.head < this.waiting.length) this.startNext();
  }

  private startNext(): void {
    const job = this.waiting[this.head]!;
    this.waiting[this.head] = noop;
    this.head++;
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    this.active++;
    job();
  }
}

function noop(): void {}

/** The limiter every connection shares. Default 10 jobs at once, like ws's `concurrencyLimit`. */
export const zlibLimiter = new ZlibLimiter(10);

/** Change how many zlib jobs may run at once, process-wide. */
export function setZlibConcurrency(limit: number): void {
  zlibLimiter.concurrency = limit;
}
