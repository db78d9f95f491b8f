/** Every case, in Autobahn's order (then our own probes, section 'x'), and lookups by section and id. */
import type { ConformanceCase } from '../support/case-run.js';
import { closeCases } from './close.js';
import { extraCases } from './extra.js';
import { framingCases } from './framing.js';
import { limitsCases } from './limits.js';
import { utf8Cases } from './utf8.js';

export function allCases(): ConformanceCase[] {
  return [...framingCases(), ...utf8Cases(), ...closeCases(), ...limitsCases(), ...extraCases()];
}

/** Cases whose id starts with one of the sections, e.g. ['1', '2', '6.4']. */
export function casesIn(sections: readonly string[]): ConformanceCase[] {
  return allCases().filter((c) => sections.some((s) => c.id === s || c.id.startsWith(`${s}.`)));
}

export function sectionOf(id: string): string {
  return id.split('.')[0]!;
}
