/**
 * How run.ts drives the scale scenarios (broadcast1k, broadcast10k, storm): their command-line option,
 * their part of the usage text, and one call that runs whichever of them was selected. All three are
 * part of `--scenario all`, with fewer runs than the echo scenarios (`--heavy-runs`, default 3): each
 * run opens 1,000 to 10,000 connections.
 */
import type { ServerKind } from '../protocol.js';
import { BROADCAST_SCENARIOS } from './broadcast.js';
import { FANOUT_SCENARIOS } from './fanout.js';
import { HUB_FANOUT_SCENARIOS } from './hub-fanout.js';
import type { ScaleScenario } from './scale.js';
import { STORM_SCENARIO } from './storm.js';

/** In the order `--scenario all` runs them. */
export const SCALE_SCENARIOS: readonly ScaleScenario[] = [
  ...BROADCAST_SCENARIOS,
  STORM_SCENARIO,
  ...FANOUT_SCENARIOS,
  ...HUB_FANOUT_SCENARIOS,
];

/** Options for node:util parseArgs, merged into run.ts's own. */
export const SCALE_ARGS = {
  'heavy-runs': { type: 'string', default: '3' },
  'broadcast-batch': { type: 'string' },
  'fanout-slo-ms': { type: 'string', default: '100' },
} as const;

export const SCALE_USAGE = `  --heavy-runs N      runs per server of broadcast1k, broadcast10k and storm (default 3, fewer than
                      --runs: each run opens 1,000 to 10,000 connections); broadcast uses --warmup
                      and --duration too, storm times 10,000 handshakes and measures idle memory
  --broadcast-batch K broadcasts per event-loop turn in broadcast1k and broadcast10k, the same for
                      every server (default 16; 1 leaves no consecutive writes to coalesce)
  --fanout-slo-ms MS  p99 latency bound of ssefanout1k, ssefanout5k, hubfanout10k and clusterfanout3k
                      per 1,000 subscribers (default 100: 100 ms, 500 ms, 1 s and 300 ms): each
                      server's figure is the highest publish rate it sustains under it`;

export interface ScaleCliOptions {
  scenarios: ScaleScenario[];
  runs: number;
  broadcastBatch: number | null;
  fanoutSloMs: number;
}

export function parseScaleOptions(
  scenario: string,
  values: { 'heavy-runs'?: string; 'broadcast-batch'?: string; 'fanout-slo-ms'?: string },
): ScaleCliOptions {
  const runs = Number(values['heavy-runs'] ?? '3');
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
    throw new RangeError(`--heavy-runs must be an integer from 1 to 100, got ${values['heavy-runs']}`);
  }
  const batch = values['broadcast-batch'];
  if (
    batch !== undefined &&
    !(Number.isInteger(Number(batch)) && Number(batch) >= 1 && Number(batch) <= 64)
  ) {
    throw new RangeError(`--broadcast-batch must be an integer from 1 to 64, got ${batch}`);
  }
  const slo = Number(values['fanout-slo-ms'] ?? '100');
  if (!(slo > 0 && slo <= 10_000)) {
    throw new RangeError(`--fanout-slo-ms must be a number in (0, 10000], got ${values['fanout-slo-ms']}`);
  }
  return {
    fanoutSloMs: slo,
    scenarios: SCALE_SCENARIOS.filter((s) => scenario === 'all' || s.name === scenario),
    runs,
    broadcastBatch: batch === undefined ? null : Number(batch),
  };
}

export interface ScaleRunOptions {
  durationMs: number;
  warmupMs: number;
  servers: readonly ServerKind[];
  cpuProfDir: string | null;
  scale: ScaleCliOptions;
}

export interface ScaleRunResult {
  failures: number;
  /** Markdown sections, printed after run.ts's own. */
  reports: string[];
  /** Every measurement, for --json. */
  measurements: object[];
}

export async function runScaleScenarios(options: ScaleRunOptions): Promise<ScaleRunResult> {
  const result: ScaleRunResult = { failures: 0, reports: [], measurements: [] };
  for (const scenario of options.scale.scenarios) {
    const outcome = await scenario.run({
      runs: options.scale.runs,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      servers: [...options.servers],
      cpuProfDir: options.cpuProfDir,
      broadcastBatch: options.scale.broadcastBatch,
      fanoutSloMs: options.scale.fanoutSloMs,
    });
    result.failures += outcome.failures;
    const servers = [...outcome.infos].map(([kind, info]) => `- ${kind}: ${info}`);
    result.reports.push([outcome.report, ...servers, ''].join('\n'));
    result.measurements.push(...outcome.measurements);
  }
  return result;
}
