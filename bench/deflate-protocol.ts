/**
 * IPC messages of the compressed-traffic scenarios (echodeflate and soak), next to the common ones in
 * protocol.ts: the plans passed to their load generators, the soak's progress reports, and the memory
 * samples a server answers with (servers/memory-probe.ts).
 */
import type { CpuSample, LoadFailure, LoadMessage } from './protocol.js';

/** What the echodeflate load generator is asked to do; passed as one JSON argument. */
export interface DeflateLoadPlan {
  port: number;
  /** 'ws': handshake offering permessage-deflate, compressed frames; 'tcp': the same bytes, bare. */
  protocol: 'ws' | 'tcp';
  path: string;
  connections: number;
  /** Messages outstanding per connection. */
  inFlight: number;
  /** Messages echoed one at a time, inflated and compared, per connection before the load. */
  probeMessages: number;
  warmupMs: number;
  durationMs: number;
}

/** The Sec-WebSocket-Extensions the server answered (ws only), reported once before the load. */
export interface LoadNegotiated {
  type: 'negotiated';
  extensions: string;
}

export type DeflateLoadMessage = LoadMessage | LoadNegotiated;

/** What the soak load generator is asked to do; passed as one JSON argument. */
export interface SoakPlan {
  port: number;
  path: string;
  /** Connections kept open at all times; each one that ends is replaced at once. */
  concurrency: number;
  durationMs: number;
  /** Each connection echoes a number of messages drawn uniformly from [min, max]. */
  messagesMin: number;
  messagesMax: number;
  inFlight: number;
  /** Share of connections that end with a bare TCP close after their echoes (no closing handshake). */
  abruptAfterShare: number;
  /** Share of connections destroyed mid-traffic, with messages in flight. */
  abruptMidShare: number;
  progressEveryMs: number;
}

/** Cumulative counts since the soak started. */
export interface SoakCounts {
  /** Milliseconds since the load started. */
  elapsedMs: number;
  opened: number;
  cleanCloses: number;
  abruptCloses: number;
  messages: number;
  /** Connections that failed (refused, reset, bad frame, timed out). */
  errors: number;
  lastError: string | null;
  /** Connections open right now (including those still in their handshake or closing). */
  open: number;
  /** Sum and count of handshake times (connect to 101 response), ms. */
  handshakeMs: number;
  handshakes: number;
  /** Sum and count of closing-handshake times (our close frame sent to TCP closed), ms. */
  closingMs: number;
  closings: number;
  /** CPU the load generator used since the previous report, fraction of one core. */
  cpu: number;
}

export interface SoakProgress extends SoakCounts {
  type: 'progress';
}

export interface SoakDone extends SoakCounts {
  type: 'done';
}

export type SoakLoadMessage = SoakProgress | SoakDone | LoadFailure;

// Server memory -------------------------------------------------------------------------------------

export interface MemorySample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Connections the server has open (its clients set). */
  connections: number;
  cpu: CpuSample;
}

/** Orchestrator -> server: send a memory sample; with `gc`, collect garbage first (needs --expose-gc). */
export interface MemoryCommand {
  type: 'memory';
  gc: boolean;
}

export interface ServerMemory {
  type: 'memory';
  sample: MemorySample;
}
