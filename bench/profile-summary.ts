/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --cpu-prof`): the
 * functions with the most self time, with their inclusive time, and the same grouped by script.
 *
 *   node dist/bench/profile-summary.js FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatNumber, markdownTable } from './stats.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A short, readable script name: path inside the project, package name, or node internal. */
export function shortUrl(url: string): string {
  if (url === '') return '';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) return url.slice(modules + '/node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist !== -1) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

function keyOf(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

export interface Summary {
  totalMicros: number;
  functions: { key: string; self: number; inclusive: number }[];
  scripts: { script: string; self: number }[];
}

export function summarise(profile: CpuProfile): Summary {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  // Self time: each sample is charged the interval until the next sample (as Chrome DevTools does).
  const selfById = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const delta = timeDeltas[i + 1] ?? 0;
    if (delta <= 0) continue;
    selfById.set(samples[i]!, (selfById.get(samples[i]!) ?? 0) + delta);
    total += delta;
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const scripts = new Map<string, number>();
  // Walk the tree once: inclusive time of a node is charged to its function unless an ancestor frame
  // is the same function (recursion would count it twice).
  const walk = (id: number, active: Map<string, number>): number => {
    const node = byId.get(id)!;
    const key = keyOf(node.callFrame);
    const own = selfById.get(id) ?? 0;
    self.set(key, (self.get(key) ?? 0) + own);
    const script = shortUrl(node.callFrame.url) || node.callFrame.functionName;
    scripts.set(script, (scripts.get(script) ?? 0) + own);
    active.set(key, (active.get(key) ?? 0) + 1);
    let sum = own;
    for (const child of node.children ?? []) sum += walk(child, active);
    const depth = active.get(key)! - 1;
    if (depth === 0) {
      active.delete(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
    } else {
      active.set(key, depth);
    }
    return sum;
  };
  const childIds = new Set(profile.nodes.flatMap((n) => n.children ?? []));
  for (const node of profile.nodes) if (!childIds.has(node.id)) walk(node.id, new Map());
  return {
    totalMicros: total,
    functions: [...self.entries()]
      .map(([key, s]) => ({ key, self: s, inclusive: inclusive.get(key) ?? s }))
      .sort((a, b) => b.self - a.self),
    scripts: [...scripts.entries()]
      .map(([script, s]) => ({ script, self: s }))
      .sort((a, b) => b.self - a.self),
  };
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' } },
  });
  const file = positionals[0];
  if (file === undefined) {
    console.error('usage: node dist/bench/profile-summary.js FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  const top = Number(values.top);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const summary = summarise(profile);
  const total = summary.totalMicros;
  const pct = (micros: number) => `${((micros / total) * 100).toFixed(1)}%`;
  const ms = (micros: number) => formatNumber(micros / 1000, 0);
  console.log(`${file}: ${ms(total)} ms sampled\n`);
  console.log(`Top ${top} functions by self time:\n`);
  console.log(
    markdownTable(
      ['function', 'self ms', 'self', 'inclusive'],
      summary.functions.slice(0, top).map((f) => [f.key, ms(f.self), pct(f.self), pct(f.inclusive)]),
    ),
  );
  console.log('\nSelf time by script:\n');
  console.log(
    markdownTable(
      ['script', 'self ms', 'self'],
      summary.scripts.slice(0, 15).map((s) => [s.script, ms(s.self), pct(s.self)]),
    ),
  );
}

main();
