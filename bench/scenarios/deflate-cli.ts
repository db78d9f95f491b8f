/**
 * How run.ts drives the compressed-traffic scenarios: their command-line options, their part of the
 * usage text, and one call that runs whichever of them was selected. `echodeflate` is part of
 * `--scenario all`; `soak` runs only when named, as it takes minutes.
 */
import type { ServerKind } from '../protocol.js';
import { runEchoDeflate } from './echo-deflate.js';
import type { DeflateMeasurement } from './echo-deflate-report.js';
import { runSoak, SOAK_SERVERS, type SoakServer } from './soak.js';

export const DEFLATE_SCENARIOS = ['echodeflate', 'soak'] as const;

/** Options for node:util parseArgs, merged into run.ts's own. */
export const DEFLATE_ARGS = {
  'soak-seconds': { type: 'string', default: '300' },
  'soak-servers': { type: 'string', default: 'shared' },
} as const;

export const DEFLATE_USAGE = `  --soak-seconds S    length of the soak per server (default 300)
  --soak-servers LIST servers to soak, comma-separated subset of shared,dedicated,ws (default shared:
                      Conduit in shared mode); they run one after the other`;

export interface DeflateCliOptions {
  echoDeflate: boolean;
  soak: { soakMs: number; soakServers: SoakServer[] } | null;
}

export function parseDeflateOptions(
  scenario: string,
  values: { 'soak-seconds'?: string; 'soak-servers'?: string },
): DeflateCliOptions {
  const seconds = Number(values['soak-seconds'] ?? '300');
  if (!Number.isFinite(seconds) || seconds < 10 || seconds > 3600) {
    throw new RangeError(`--soak-seconds must be a number from 10 to 3600, got ${values['soak-seconds']}`);
  }
  const soakServers = (values['soak-servers'] ?? 'shared').split(',').map((s) => s.trim());
  for (const s of soakServers) {
    if (!(SOAK_SERVERS as readonly string[]).includes(s)) throw new RangeError(`unknown soak server ${s}`);
  }
  return {
    echoDeflate: scenario === 'all' || scenario === 'echodeflate',
    soak: scenario === 'soak' ? { soakMs: seconds * 1000, soakServers: soakServers as SoakServer[] } : null,
  };
}

export interface DeflateRunOptions {
  runs: number;
  durationMs: number;
  warmupMs: number;
  servers: readonly ServerKind[];
  cpuProfDir: string | null;
  deflate: DeflateCliOptions;
}

export interface DeflateRunResult {
  failures: number;
  /** Markdown sections, printed after run.ts's own. */
  reports: string[];
  /** Every echodeflate measurement, for --json. */
  measurements: DeflateMeasurement[];
}

export async function runDeflateScenarios(options: DeflateRunOptions): Promise<DeflateRunResult> {
  const result: DeflateRunResult = { failures: 0, reports: [], measurements: [] };
  if (options.deflate.echoDeflate) {
    const echo = await runEchoDeflate(options);
    result.failures += echo.failures;
    result.reports.push(echo.report);
    result.measurements.push(...echo.measurements);
  }
  if (options.deflate.soak !== null) {
    const soak = await runSoak(options.deflate.soak);
    result.failures += soak.failures;
    result.reports.push(soak.report);
  }
  return result;
}
