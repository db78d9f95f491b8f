/**
 * IPC messages of the scale scenarios (broadcast1k, broadcast10k, storm), next to the common ones in
 * protocol.ts: the plans given to their load generators and servers, and the extra requests the
 * orchestrator makes of a server (pacing counters, idle memory). The names differ from the other
 * scenarios' messages so that no process can mistake one for the other.
 */
import type { CpuSample, LoadFailure, LoadMeasuring, LoadResult } from '../protocol.js';

// Broadcast ------------------------------------------------------------------------------------------

/** Passed to a broadcast server as JSON in argv[3] (argv[2] is the harness's lifetime). */
export interface BroadcastServerPlan {
  /** Broadcasting starts once this many clients are connected. */
  clients: number;
  /** Broadcasts per event-loop turn before the backlog check and the yield (see servers/pacing.ts). */
  perBatch: number;
}

/** What the broadcast load generator is asked to do; passed as one JSON argument. */
export interface BroadcastLoadPlan {
  port: number;
  path: string;
  clients: number;
  /** Opening handshakes in flight at once while connecting. */
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

export interface BroadcastResult extends LoadResult {
  /** Seconds it took to open every client connection. */
  connectSeconds: number;
  /** Fewest deliveries one client got in the window (0 would mean a starved client). */
  minPerClient: number;
}

export type BroadcastLoadMessage = LoadMeasuring | BroadcastResult | LoadFailure;

/** Orchestrator -> broadcast server: report the pacing counters. */
export interface PacingCommand {
  type: 'pacing';
}

/** Cumulative counters of a broadcast server's loop (servers/pacing.ts). */
export interface PacingStats {
  /** Broadcasts made (each to every client). */
  broadcasts: number;
  /** Times the loop stopped because a backlog went over its bound. */
  waits: number;
  /** Milliseconds spent waiting for backlogs to drain. */
  waitedMs: number;
  /** Clients connected when the sample was taken. */
  clients: number;
}

export interface ServerPacing {
  type: 'pacing';
  stats: PacingStats;
}

// Storm ----------------------------------------------------------------------------------------------

/** What the storm load generator is asked to do; passed as one JSON argument. */
export interface StormLoadPlan {
  port: number;
  path: string;
  connections: number;
  /** Opening handshakes in flight at once. */
  concurrency: number;
  /** Sec-WebSocket-Extensions offered in every request, or null for none. */
  extensions: string | null;
  /** The generator exits by itself this long after it started, released or not. */
  lifetimeMs: number;
}

/** Generator -> orchestrator: connected to nothing yet, waiting for 'go' (so CPU can be sampled first). */
export interface StormArmed {
  type: 'armed';
}

/** Generator -> orchestrator: every connection is open and idle; they stay open until 'release'. */
export interface StormOpen {
  type: 'open';
  handshakes: number;
  /** From the first connect() to the last 101 response, seconds. */
  seconds: number;
  /** Handshake latency (connect() to 101) percentiles, milliseconds. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU the generator used over the storm, fraction of one core. */
  cpu: number;
  /** Sec-WebSocket-Extensions of the first 101 response, or null when it had none. */
  extensions: string | null;
  /** How many of the 101 responses carried Sec-WebSocket-Extensions. */
  withExtensions: number;
}

export type StormLoadMessage = StormArmed | StormOpen | LoadFailure;

/** Orchestrator -> storm generator. */
export type StormCommand = { type: 'go' } | { type: 'release' };

/** Orchestrator -> server: collect garbage (with --expose-gc), let the process settle, report memory. */
export interface IdleMemoryCommand {
  type: 'idle-memory';
  settleMs: number;
}

export interface IdleMemory {
  rss: number;
  heapUsed: number;
  external: number;
  /**
   * Bytes V8 has committed to its young generation: it grows under a high allocation rate (such as a
   * storm of handshakes), gc() does not shrink it back, and it counts in RSS whether or not anything
   * in it is alive; reported so that RSS deltas can be read without it.
   */
  newSpace: number;
  /** Connections the server holds open (its clients set, or its upgraded sockets). */
  connections: number;
  /** Whether global.gc() was available (the server ran with --expose-gc). */
  gc: boolean;
  cpu: CpuSample;
}

export interface ServerIdleMemory {
  type: 'idle-memory';
  memory: IdleMemory;
}
