/**
 * Messages exchanged over the IPC channel between the orchestrator (run.ts), the server under test
 * (servers/*.ts) and the load generator (load/generator.ts). Every child is a separate Node process
 * started with child_process.fork, so the server and the load never share an event loop.
 */

/** Which server a run measures. */
export type ServerKind = 'conduit' | 'ws' | 'tcp';

export const SERVER_KINDS: readonly ServerKind[] = ['conduit', 'ws', 'tcp'];

/** CPU time used by a process, microseconds (process.cpuUsage()). */
export interface CpuSample {
  user: number;
  system: number;
  /** process.hrtime.bigint() when sampled, as a number of microseconds. */
  at: number;
}

// Server -> orchestrator ------------------------------------------------------------------------------

export interface ServerReady {
  type: 'ready';
  port: number;
  /** Human-readable facts about the server (library version, masking kernel in use). */
  info: string;
}

export interface ServerCpu {
  type: 'cpu';
  sample: CpuSample;
}

export type ServerMessage = ServerReady | ServerCpu;

// Orchestrator -> server ------------------------------------------------------------------------------

export type ServerCommand = { type: 'cpu' } | { type: 'stop' };

// Load generator <-> orchestrator ---------------------------------------------------------------------

/** What the load generator is asked to do; passed as one JSON argument. */
export interface LoadPlan {
  port: number;
  /** 'ws': WebSocket handshake then frames; 'tcp': the same frame bytes on a bare TCP echo. */
  protocol: 'ws' | 'tcp';
  path: string;
  connections: number;
  /** Messages outstanding per connection: each echo received triggers the next send. */
  inFlight: number;
  /** Payload bytes per message. */
  size: number;
  warmupMs: number;
  durationMs: number;
}

export interface LoadMeasuring {
  type: 'measuring';
}

export interface LoadResult {
  type: 'result';
  /** Messages echoed inside the measurement window. */
  messages: number;
  /** Payload bytes echoed inside the measurement window. */
  payloadBytes: number;
  /** Length of the measurement window, seconds. */
  seconds: number;
  /** CPU the load generator used during the window, as a fraction of one core. */
  cpu: number;
}

export interface LoadFailure {
  type: 'failure';
  message: string;
}

export type LoadMessage = LoadMeasuring | LoadResult | LoadFailure;

export function cpuSample(): CpuSample {
  const { user, system } = process.cpuUsage();
  return { user, system, at: Number(process.hrtime.bigint() / 1000n) };
}

/** CPU used between two samples as a fraction of one core. */
export function cpuFraction(from: CpuSample, to: CpuSample): number {
  const wall = to.at - from.at;
  if (wall <= 0) return 0;
  return (to.user - from.user + (to.system - from.system)) / wall;
}
