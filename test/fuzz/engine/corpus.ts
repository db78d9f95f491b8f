/**
 * The corpus on disk: test/fuzz/corpus/<target>/ holds the seeds (`seed-<name>`, written from the
 * target's `seeds()`) and the inputs the fuzzer kept (named by the first 16 hex digits of their SHA-1).
 * test/fuzz/crashes/<target>/ holds inputs that broke an invariant (`crash-<sha1>`).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { corpusDir, crashesDir } from './paths.js';
import type { FuzzTarget } from './target.js';

export interface CorpusEntry {
  readonly name: string;
  readonly data: Buffer;
}

export function hashName(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex').slice(0, 16);
}

function readDir(dir: string): CorpusEntry[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.') && !name.endsWith('.md'))
    .sort()
    .map((name) => ({ name, data: readFileSync(dir + name) }));
}

/** The seeds and the saved corpus, without duplicates (seeds first). */
export function loadCorpus(target: FuzzTarget): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  const seen = new Set<string>();
  const add = (entry: CorpusEntry): void => {
    const key = hashName(entry.data);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(entry);
  };
  for (const [name, data] of Object.entries(target.seeds())) add({ name: `seed-${name}`, data });
  for (const entry of readDir(corpusDir(target.name))) add(entry);
  return out;
}

export function loadCrashes(target: FuzzTarget): CorpusEntry[] {
  return readDir(crashesDir(target.name));
}

/**
 * Make the corpus folder hold exactly the seeds and `kept` (the inputs a merge chose); other
 * fuzzer-named files are removed, hand-named ones are left alone.
 */
export function writeCorpus(target: FuzzTarget, kept: readonly Buffer[]): { added: number; removed: number } {
  const dir = corpusDir(target.name);
  mkdirSync(dir, { recursive: true });
  const want = new Set<string>();
  let added = 0;
  for (const [name, data] of Object.entries(target.seeds())) {
    const file = `seed-${name}`;
    want.add(file);
    if (!existsSync(dir + file) || !readFileSync(dir + file).equals(data)) writeFileSync(dir + file, data);
  }
  for (const data of kept) {
    const file = hashName(data);
    want.add(file);
    if (!existsSync(dir + file)) {
      writeFileSync(dir + file, data);
      added++;
    }
  }
  let removed = 0;
  for (const file of readdirSync(dir)) {
    if (want.has(file) || !/^[0-9a-f]{16}$/.test(file)) continue;
    rmSync(dir + file);
    removed++;
  }
  return { added, removed };
}

export function saveCrash(target: FuzzTarget, data: Buffer, report: string): string {
  const dir = crashesDir(target.name);
  mkdirSync(dir, { recursive: true });
  const file = `crash-${hashName(data)}`;
  writeFileSync(dir + file, data);
  writeFileSync(`${dir}${file}.md`, report);
  return dir + file;
}
