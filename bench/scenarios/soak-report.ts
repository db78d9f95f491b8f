/** The soak report: the memory samples of each server and the verdict on RSS after the warm-up. */
import type { MemorySample, SoakCounts } from '../deflate-protocol.js';
import { cpuFraction } from '../protocol.js';
import { formatNumber, formatPercent, markdownTable } from '../stats.js';
import type { SoakServer } from './soak.js';

export interface SoakSample {
  /** Seconds since the load started (0 before it). */
  t: number;
  /** 'before' the load, during the 'load', at its 'end', and 'after' it (settled, forced GC). */
  label: 'before' | 'load' | 'end' | 'after';
  memory: MemorySample;
  /** The load generator's latest cumulative counts when the sample was taken. */
  counts: SoakCounts | null;
}

export interface SoakRun {
  server: SoakServer;
  info: string;
  warmupMs: number;
  sampleEveryMs: number;
  samples: SoakSample[];
  totals: SoakCounts;
}

/** RSS after the warm-up may vary by this fraction (max / min - 1) and still count as flat. */
export const FLAT_WITHIN = 0.1;

const LABELS: Record<SoakServer, string> = {
  shared: "Conduit, perMessageDeflate { mode: 'shared' }",
  dedicated: "Conduit, perMessageDeflate { mode: 'dedicated' }",
  ws: 'ws + bufferutil, perMessageDeflate: true',
};

const mib = (bytes: number): string => formatNumber(bytes / 1048576, 1);

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/** Counts at the previous sample that had any (zero before the load). */
function previousCounts(samples: readonly SoakSample[], i: number): SoakCounts | null {
  for (let j = i - 1; j >= 0; j--) if (samples[j]!.counts !== null) return samples[j]!.counts;
  return null;
}

function table(run: SoakRun): string {
  const rows = run.samples.map((s, i) => {
    const prev = i > 0 ? run.samples[i - 1]! : null;
    const before = previousCounts(run.samples, i);
    const now = s.counts;
    const during = (s.label === 'load' || s.label === 'end') && now !== null;
    // Rates over the generator's own clock, between the counts the two samples saw.
    const seconds = now !== null ? (now.elapsedMs - (before?.elapsedMs ?? 0)) / 1000 : 0;
    const diff = (f: (c: SoakCounts) => number): number =>
      now !== null ? f(now) - (before !== null ? f(before) : 0) : Number.NaN;
    const rate = (f: (c: SoakCounts) => number): string =>
      during && seconds > 0 ? formatNumber(diff(f) / seconds) : '';
    const mean = (sum: (c: SoakCounts) => number, n: (c: SoakCounts) => number): string =>
      during && diff(n) > 0 ? formatNumber(diff(sum) / diff(n), 1) : '';
    return [
      s.label === 'load'
        ? `${s.t.toFixed(0)}`
        : `${s.label}${s.label === 'end' ? ` (${s.t.toFixed(0)})` : ''}`,
      mib(s.memory.rss),
      mib(s.memory.heapUsed),
      mib(s.memory.external),
      mib(s.memory.arrayBuffers),
      String(s.memory.connections),
      rate((c) => c.cleanCloses + c.abruptCloses),
      rate((c) => c.messages),
      mean(
        (c) => c.handshakeMs,
        (c) => c.handshakes,
      ),
      mean(
        (c) => c.closingMs,
        (c) => c.closings,
      ),
      prev !== null ? formatPercent(cpuFraction(prev.memory.cpu, s.memory.cpu)) : '',
      during ? formatPercent(now.cpu) : '',
    ];
  });
  return markdownTable(
    [
      't (s)',
      'RSS MiB',
      'heap used MiB',
      'external MiB',
      'array buffers MiB',
      'server conns',
      'conns ended/s',
      'echoes/s',
      'handshake ms',
      'close ms',
      'server CPU',
      'load-gen CPU',
    ],
    rows,
  );
}

function verdict(run: SoakRun): string {
  const post = run.samples.filter((s) => s.label === 'load' && s.t * 1000 >= run.warmupMs);
  if (post.length < 2) return `Too few samples after the ${run.warmupMs / 1000} s warm-up for a verdict.`;
  const rss = post.map((s) => s.memory.rss);
  const min = Math.min(...rss);
  const max = Math.max(...rss);
  const spread = max / min - 1;
  const trend = slope(post.map((s) => ({ x: s.t / 60, y: s.memory.rss / 1048576 })));
  const heapTrend = slope(post.map((s) => ({ x: s.t / 60, y: s.memory.heapUsed / 1048576 })));
  return (
    `RSS from ${run.warmupMs / 1000} s on (${post.length} samples): ${mib(min)} - ${mib(max)} MiB, ` +
    `max/min = ${(max / min).toFixed(3)} -> **${spread <= FLAT_WITHIN ? 'FLAT' : 'NOT FLAT'}** ` +
    `(within ${Math.round(FLAT_WITHIN * 100)}%: ${spread <= FLAT_WITHIN ? 'yes' : 'no'}); ` +
    `trend ${trend >= 0 ? '+' : ''}${formatNumber(trend, 2)} MiB/min ` +
    `(heap used ${heapTrend >= 0 ? '+' : ''}${formatNumber(heapTrend, 2)} MiB/min).`
  );
}

export function soakReport(runs: readonly SoakRun[], soakMs: number, describe: string): string {
  const lines = [
    `### Soak: ${soakMs / 1000} s of connection churn with permessage-deflate`,
    '',
    `${describe}.`,
    '',
  ];
  for (const run of runs) {
    const t = run.totals;
    lines.push(
      `#### ${LABELS[run.server]}`,
      '',
      `${run.info}. Samples every ${run.sampleEveryMs / 1000} s; warm-up ${run.warmupMs / 1000} s.`,
      `${formatNumber(t.opened)} connections opened (${formatNumber(t.cleanCloses)} closing handshakes, ` +
        `${formatNumber(t.abruptCloses)} abrupt, ${formatNumber(t.errors)} errors` +
        `${t.lastError !== null ? `, last: ${t.lastError}` : ''}), ${formatNumber(t.messages)} echoes.`,
      '',
      table(run),
      '',
      verdict(run),
      '',
    );
  }
  lines.push(
    "'before': idle server before the load; 'end': as the load stops; 'after': " +
      'a few seconds later, every connection gone, after a forced GC. Rates are per second between ' +
      'samples; handshake ms: mean time from connect to the 101 response; close ms: mean time from our ' +
      'close frame to the TCP close; server CPU counts all threads of the server process.',
    '',
  );
  return lines.join('\n');
}
