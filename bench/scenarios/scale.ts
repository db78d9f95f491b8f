/**
 * What the scale scenarios (broadcast1k, broadcast10k, storm) share with each other and with run.ts:
 * their options, their outcome, the server labels, the per-run order and the figure columns of the
 * report (median, range, ratio to ws, fraction of raw TCP).
 */
import { mkdirSync } from 'node:fs';
import type { ServerKind } from '../protocol.js';
import { formatNumber, formatPercent, formatRatio, median } from '../stats.js';

export interface ScaleOptions {
  runs: number;
  warmupMs: number;
  durationMs: number;
  servers: ServerKind[];
  /** Where the Conduit server writes --cpu-prof profiles, or null. */
  cpuProfDir: string | null;
  /** Broadcasts per event-loop turn in the broadcast scenarios, instead of each one's own. */
  broadcastBatch: number | null;
  /** The fan-out scenarios' p99 bound per 1,000 subscribers, ms: their figure is the highest rate under it. */
  fanoutSloMs: number;
}

export interface ScaleOutcome {
  /** Markdown for the results section. */
  report: string;
  failures: number;
  /** Every single measurement, for --json. */
  measurements: object[];
  /** What each server said about itself when ready (by server, or by server and variant). */
  infos: ReadonlyMap<string, string>;
}

export interface ScaleScenario {
  name: string;
  run(options: ScaleOptions): Promise<ScaleOutcome>;
}

export const LABELS: Record<ServerKind, string> = {
  conduit: 'Conduit',
  ws: 'ws + bufferutil',
  tcp: 'raw TCP (ceiling)',
};

/** Rotate the order from run to run, so no server always goes first (or right after another). */
export function rotation(servers: readonly ServerKind[], run: number): ServerKind[] {
  return servers.map((_, i) => servers[(i + run) % servers.length]!);
}

/** node options that make the Conduit server write a CPU profile, when profiling was asked for. */
export function profileArgs(kind: ServerKind, scenario: string, run: number, dir: string | null): string[] {
  if (kind !== 'conduit' || dir === null) return [];
  mkdirSync(dir, { recursive: true });
  return [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-name=conduit-${scenario}-run${run + 1}-${process.pid}.cpuprofile`,
  ];
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The figure columns of one server's row: median, min - max, vs ws, of raw TCP. `medians` holds every
 * server's median, so the ratios use the same numbers as the median column.
 */
export function figureColumns(
  kind: ServerKind,
  values: readonly number[],
  medians: ReadonlyMap<ServerKind, number>,
  digits = 0,
): string[] {
  const value = median(values);
  return [
    formatNumber(value, digits),
    values.length > 0
      ? `${formatNumber(Math.min(...values), digits)} - ${formatNumber(Math.max(...values), digits)}`
      : 'n/a',
    kind === 'ws' && values.length > 0 ? '1.00x' : formatRatio(value / (medians.get('ws') ?? Number.NaN)),
    formatPercent(value / (medians.get('tcp') ?? Number.NaN)),
  ];
}

/** The median of `pick` over the measurements of each server. */
export function mediansBy<M extends { server: ServerKind }>(
  measurements: readonly M[],
  servers: readonly ServerKind[],
  pick: (m: M) => number,
): Map<ServerKind, number> {
  const medians = new Map<ServerKind, number>();
  for (const kind of servers) {
    medians.set(kind, median(measurements.filter((m) => m.server === kind).map(pick)));
  }
  return medians;
}
