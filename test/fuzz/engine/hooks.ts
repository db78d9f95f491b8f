/**
 * Module hooks (node:module `register`) that instrument the compiled src/ as it loads, for a fuzzing
 * worker. They run on Node's hooks thread, which sees every load in order: the counter ranges are
 * handed out here, so no module waits on the main thread.
 */
import { instrument } from './instrument.js';

export interface HooksData {
  /** URL prefix of the modules to instrument (dist/src/). */
  readonly include: string;
}

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | ArrayBufferView | null;
  shortCircuit?: boolean;
}

type NextLoad = (url: string, context: unknown) => Promise<LoadResult>;

let include = '';
let next = 0;

export function initialize(data: HooksData): void {
  include = data.include;
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  if (!url.startsWith(include) || !url.endsWith('.js') || result.format !== 'module') return result;
  const source =
    typeof result.source === 'string'
      ? result.source
      : new TextDecoder().decode(result.source as ArrayBuffer | ArrayBufferView);
  const out = instrument(source, next, url);
  next += out.counters;
  return { ...result, source: out.code, shortCircuit: true };
}
