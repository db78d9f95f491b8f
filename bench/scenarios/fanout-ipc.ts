/**
 * IPC messages of the one-way fan-out scenarios (scenarios/fanout.ts): one publisher inside the server
 * process, N subscribers in the load generator, over SSE on HTTP/1.1, SSE on HTTP/2 (cleartext, prior
 * knowledge) or WebSocket. The names differ from the other scenarios' messages so that no process can
 * mistake one for another.
 */
import type { CpuSample, LoadFailure } from '../protocol.js';

/**
 * How the subscribers are connected: SSE, or a WebSocket carrying bare events ('ws'), Conduit's hub
 * protocol ('hub': a channel subscription with offsets) or Socket.IO's ('socket.io': a room).
 */
export type FanoutTransport = 'sse-h1' | 'sse-h2' | 'ws' | 'hub' | 'socket.io';

/** Which library serves them. */
export type FanoutServerKind = 'conduit' | 'better-sse' | 'socket.io';

/** Passed to a fan-out server as JSON in argv[3] (argv[2] is the harness's lifetime). */
export interface FanoutServerPlan {
  transport: FanoutTransport;
  /** Publishing starts once this many subscribers are connected. */
  clients: number;
  /**
   * Cross-node scenarios (transports 'hub' and 'socket.io' only): the server is one node of several
   * sharing this Redis, through Conduit's RedisBroker or Socket.IO's Redis adapter; `prefix` keeps the
   * run's keys and pub/sub channels apart from anything else in that Redis.
   */
  redis?: { url: string; prefix: string };
}

/**
 * What the publisher does: nothing, or a fixed number of events per second, each stamped with the
 * time it was due, so that a publisher falling behind shows up as latency.
 */
export type FanoutMode = { kind: 'idle' } | { kind: 'rate'; eventsPerSecond: number };

/** Orchestrator -> server. */
export type FanoutServerCommand = { type: 'fanout-mode'; mode: FanoutMode } | { type: 'fanout-stats' };

export interface FanoutPublisherStats {
  /** Events published (each to every subscriber). */
  published: number;
  /** Milliseconds the publisher spent waiting for backlogs to drain. */
  waitedMs: number;
  /** Subscribers connected when sampled. */
  clients: number;
  cpu: CpuSample;
}

/** Server -> orchestrator. */
export type FanoutServerMessage =
  | { type: 'fanout-mode-set' }
  | { type: 'fanout-stats'; stats: FanoutPublisherStats };

/** What the fan-out load generator is asked to do; passed as one JSON argument. */
export interface FanoutLoadPlan {
  port: number;
  /** Cross-node scenarios (hub and socket.io): subscriber i connects to ports[i % ports.length]. */
  ports?: number[];
  transport: FanoutTransport;
  clients: number;
  /** Connections opened at once while connecting. */
  concurrency: number;
  /** Subscribers whose every event is parsed for its timestamp (the others are only counted). */
  sampled: number;
  /** The generator exits by itself after this long. */
  lifetimeMs: number;
}

/** Orchestrator -> load generator: count for `ms` and report. */
export interface FanoutWindowCommand {
  type: 'fanout-window';
  ms: number;
}

export interface FanoutWindow {
  type: 'fanout-window';
  /** Events received by all subscribers together in the window. */
  deliveries: number;
  seconds: number;
  /** Fewest events one subscriber received in the window. */
  minPerClient: number;
  /** Publish-to-receive latency of the sampled subscribers' events, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  latencySamples: number;
  /** CPU the generator used during the window, fraction of one core. */
  cpu: number;
}

export type FanoutLoadMessage = { type: 'fanout-connected'; seconds: number } | FanoutWindow | LoadFailure;
