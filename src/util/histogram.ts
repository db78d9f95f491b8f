/**
 * A fixed-bucket histogram of durations (ms), cheap enough to observe every broker round trip, read
 * as Prometheus histogram buckets (cumulative counts, sum, count).
 */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500] as const;

export class Histogram {
  /** Observations per bucket (not cumulative); the last slot counts those over the largest bound. */
  private readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS_MS) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  /** Cumulative counts per bound, then +Inf (Prometheus `le` buckets). */
  cumulative(): { le: string; count: number }[] {
    let running = 0;
    const out = this.bounds.map((bound, i) => {
      running += this.counts[i]!;
      return { le: String(bound), count: running };
    });
    out.push({ le: '+Inf', count: this.count });
    return out;
  }
}
