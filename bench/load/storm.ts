/**
 * The connection-storm load generator: a process of its own, forked by scenarios/storm.ts. It reports
 * 'armed', waits for 'go' (the orchestrator samples the server's CPU in between), then opens
 * `connections` WebSocket connections with `concurrency` handshakes in flight, offering compression as
 * a browser does, and times the storm from the first connect() to the last 101 response. It then
 * keeps every connection open and idle until 'release' (the server's memory is measured meanwhile),
 * and exits.
 */
import { cpuFraction, cpuSample } from '../protocol.js';
import type { StormLoadPlan, StormOpen } from '../scenarios/ipc.js';
import { bound, command, fail, report } from './child.js';
import { buildHandshake, openAll, openUpgraded } from './upgrade.js';

/** Long enough that a SYN retransmitted after 1 s or 3 s shows as latency, not as a failure. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as StormLoadPlan;
  bound(plan.lifetimeMs);
  const handshake = buildHandshake(plan.port, plan.path, plan.extensions);
  const latencies = new Float64Array(plan.connections);
  let running = true;
  const events = {
    bytes(): void {
      // Nothing is expected on an idle connection, and nothing needs counting.
    },
    lost(error: Error): void {
      if (running) void fail(error);
    },
  };

  const go = command('go');
  await report({ type: 'armed' });
  await go;
  const cpuStart = cpuSample();
  const started = performance.now();
  const opened = await openAll(plan.connections, plan.concurrency, async (index) => {
    const at = performance.now();
    const upgraded = await openUpgraded(handshake, HANDSHAKE_TIMEOUT_MS, events);
    latencies[index] = performance.now() - at;
    return upgraded;
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuFraction(cpuStart, cpuSample());

  latencies.sort();
  const withExtensions = opened.filter((o) => o.extensions !== null).length;
  const release = command('release');
  await report<StormOpen>({
    type: 'open',
    handshakes: opened.length,
    seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    cpu,
    extensions: opened[0]?.extensions ?? null,
    withExtensions,
  });
  await release;
  running = false;
  for (const { socket } of opened) socket.destroy();
  process.exit(0);
}

main().catch(fail);
