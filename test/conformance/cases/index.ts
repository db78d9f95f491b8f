/**
 * Every case, in Autobahn's order (then our own probes, section 'x'; the permessage-deflate sections 12,
 * 13 and their probes x.12, x.13 last), and lookups by section and id.
 */
import type { ConformanceCase } from '../support/case-run.js';
import { closeCases } from './close.js';
import { deflateCases } from './deflate.js';
import { extraCases } from './extra.js';
import { framingCases } from './framing.js';
import { limitsCases } from './limits.js';
import { utf8Cases } from './utf8.js';

export function allCases(): ConformanceCase[] {
  return [
    ...framingCases(),
    ...utf8Cases(),
    ...closeCases(),
    ...limitsCases(),
    ...extraCases(),
    ...deflateCases(),
  ];
}

/**
 * Cases whose id starts with one of the sections, e.g. ['1', '2', '6.4', 'x.12']; 'x' is the
 * fail-fast probes only (not x.12, x.13).
 */
export function casesIn(sections: readonly string[]): ConformanceCase[] {
  return allCases().filter((c) =>
    sections.some((s) => c.id === s || (c.id.startsWith(`${s}.`) && sectionOf(c.id) === sectionOf(`${s}.0`))),
  );
}

/** The permessage-deflate sections: their cases need an endpoint with permessage-deflate enabled. */
export const DEFLATE_SECTIONS: readonly string[] = ['12', '13', 'x.12', 'x.13'];

export function sectionOf(id: string): string {
  const probe = /^x\.(12|13)\./.exec(id);
  return probe === null ? id.split('.')[0]! : `x.${probe[1]}`;
}

export function isDeflateSection(section: string): boolean {
  return DEFLATE_SECTIONS.includes(section);
}
