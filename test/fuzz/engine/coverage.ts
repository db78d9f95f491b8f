/**
 * The main-thread side of the instrumentation (instrument.ts): the counters, the features an input
 * reached, and which of them are new. A feature is a counter with the bucket of its hit count (1, 2, 3,
 * 4-7, 8-15, 16-31, 32-127, 128+), as in libFuzzer: an input that runs a loop more often than any
 * before it is interesting too.
 */
import { register } from 'node:module';

const SIZE = 1 << 18;

declare global {
  var __conduitFuzzCov: Uint32Array | undefined;
  var __conduitFuzzMark: ((end: number) => void) | undefined;
  var __conduitFuzzDict: string[] | undefined;
}

function bucket(count: number): number {
  if (count < 4) return count - 1;
  if (count < 8) return 3;
  if (count < 16) return 4;
  if (count < 32) return 5;
  if (count < 128) return 6;
  return 7;
}

export class Coverage {
  readonly counters = new Uint32Array(SIZE);
  /** Counters handed out so far (the end of the last module loaded). */
  used = 0;
  private readonly seen = new Uint8Array(SIZE * 8);
  private seenCount = 0;
  private readonly seenEdges = new Uint8Array(SIZE);
  private edgeCount = 0;

  /**
   * Instrument every module under `include` loaded from now on (import the code under test after
   * this call, with a dynamic import).
   */
  install(include: URL): void {
    globalThis.__conduitFuzzCov = this.counters;
    globalThis.__conduitFuzzMark = (end) => {
      if (end > this.used) this.used = Math.min(end, SIZE);
    };
    globalThis.__conduitFuzzDict = [];
    register(new URL('./hooks.js', import.meta.url), { data: { include: include.href } });
  }

  /** Strings the instrumented modules contain (a dictionary for the mutator). */
  get dictionary(): readonly string[] {
    return globalThis.__conduitFuzzDict ?? [];
  }

  /** Features seen so far. */
  get features(): number {
    return this.seenCount;
  }

  /** Counters (branches) reached so far. */
  get edges(): number {
    return this.edgeCount;
  }

  /**
   * What the last run reached: how many features were new (they are recorded as seen), and the
   * run's branches when `edges` is given (filled with counter indexes). Resets the counters.
   */
  collect(edges?: number[]): number {
    const counters = this.counters;
    const seen = this.seen;
    let fresh = 0;
    for (let i = 0, n = this.used; i < n; i++) {
      const count = counters[i]!;
      if (count === 0) continue;
      counters[i] = 0;
      const feature = i * 8 + bucket(count);
      if (seen[feature] === 0) {
        seen[feature] = 1;
        this.seenCount++;
        fresh++;
      }
      if (this.seenEdges[i] === 0) {
        this.seenEdges[i] = 1;
        this.edgeCount++;
      }
      edges?.push(i);
    }
    return fresh;
  }
}
