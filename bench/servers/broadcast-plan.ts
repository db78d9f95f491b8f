/** The plan a broadcast server is started with (argv[3], JSON; argv[2] is the harness's lifetime). */
import type { BroadcastServerPlan } from '../scenarios/ipc.js';

export function broadcastPlan(): BroadcastServerPlan {
  const plan = JSON.parse(process.argv[3] ?? 'null') as BroadcastServerPlan | null;
  if (plan === null || !(plan.clients > 0) || !(plan.perBatch > 0)) {
    console.error('a broadcast server needs its plan as JSON in argv[3] (bench/scenarios/broadcast.js)');
    process.exit(2);
  }
  return plan;
}
