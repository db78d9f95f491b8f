/** Where the fuzzer's files are, from its compiled location (dist/test/fuzz/engine/). */
import { fileURLToPath } from 'node:url';

/** test/fuzz/ in the source tree: the corpus and the crashes are kept there, not in dist/. */
export const FUZZ_DIR = fileURLToPath(new URL('../../../../test/fuzz/', import.meta.url));

/** The compiled src/, the code the fuzzing worker instruments. */
export const SRC_URL = new URL('../../../src/', import.meta.url);

export function corpusDir(target: string): string {
  return `${FUZZ_DIR}corpus/${target}/`;
}

export function crashesDir(target: string): string {
  return `${FUZZ_DIR}crashes/${target}/`;
}
