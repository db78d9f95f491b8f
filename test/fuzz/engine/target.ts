/**
 * What a fuzz target is: a format, its invariants, and inputs to start from. `run` throws when an
 * invariant breaks (an AssertionError from node:assert, or whatever escaped the code under test).
 */
import type { Rng } from '../../support/random.js';

export interface FuzzTarget {
  /** Also the name of its corpus folder, test/fuzz/corpus/<name>/. */
  readonly name: string;
  /** The invariants, one sentence (printed by the runner). */
  readonly description: string;
  /** Inputs longer than this are cut. */
  readonly maxLength: number;
  /** Tokens of the format, for the mutator. */
  readonly dictionary: readonly (string | Uint8Array)[];
  /** Valid inputs to start from, by name: written to the corpus as seed-<name>. */
  seeds(): Record<string, Buffer>;
  /** Check one input. */
  run(input: Buffer): void | Promise<void>;
  /** A structure-aware mutation (frames, JSON), picked now and then among the byte-level ones. */
  mutate?(input: Buffer, rng: Rng): Buffer;
  /**
   * Known bugs: failures whose message matches `signature` are counted but not reported again, and
   * the inputs that hit them still join the corpus (so fuzzing goes on past them). Each has a reproducer
   * in test/fuzz/crashes/<target>/, run as a `todo` test.
   */
  readonly known?: readonly KnownBug[];
}

export interface KnownBug {
  readonly signature: RegExp;
  /** Where the bug is and what it does. */
  readonly bug: string;
}
