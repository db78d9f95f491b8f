/**
 * The publisher every fan-out server runs, identical for all of them so that only the library's
 * publish differs. It publishes 64-character text events whose first 16 characters are the time
 * (microseconds on the monotonic clock, which every process of the machine shares) the event was due:
 * the load generator subtracts it from its own clock to get the delivery latency.
 *
 * The orchestrator sets the mode over IPC (scenarios/fanout-ipc.ts): idle, or a rate. At a rate, every
 * millisecond the publisher publishes the events due by then (at most MAX_PER_TICK), each stamped with
 * the time it was due, not the time it went out: a publisher that falls behind shows as latency.
 * While the subscribers' backlogs are over the bounds of pacing.ts (256 KiB for one, 16 MiB for all) it
 * publishes nothing until they are back under half, so no backlog grows without bound at any rate.
 */
import { cpuSample } from '../protocol.js';
import type {
  FanoutMode,
  FanoutPublisherStats,
  FanoutServerCommand,
  FanoutServerMessage,
  FanoutServerPlan,
} from '../scenarios/fanout-ipc.js';
import { backlogsOver } from './pacing.js';

/** Characters of every event's data. */
export const EVENT_LENGTH = 64;
/** Characters of the timestamp that starts it. */
export const STAMP_LENGTH = 16;
const FILL = ` ${'x'.repeat(EVENT_LENGTH - STAMP_LENGTH - 1)}`;
/** Events one rate-mode tick publishes at most; the rest stay due (and late). */
const MAX_PER_TICK = 256;
const POLL_MS = 1;

/** Microseconds on the monotonic clock (CLOCK_MONOTONIC: the same in every process of the machine). */
export function nowMicros(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e6 + nanoseconds / 1e3;
}

/** The data of an event due at `micros`. */
export function eventText(micros: number): string {
  return Math.floor(micros).toString().padStart(STAMP_LENGTH, '0') + FILL;
}

export interface FanoutTarget<C> {
  /** The open subscribers (a live collection). */
  clients: ReadonlySet<C>;
  /** A subscriber's outbound backlog in bytes, as its library reports it. */
  backlog(client: C): number;
  /** Publish one event to every subscriber. */
  publish(text: string): void;
}

export function startPublisher<C>(target: FanoutTarget<C>): void {
  const stats = { published: 0, waitedMs: 0 };
  /** Bumped on every mode change: a loop of an earlier mode stops at its next step. */
  let generation = 0;

  const over = (divisor: number): boolean => backlogsOver(target.clients, target.backlog, divisor);

  const publish = (due: number): void => {
    target.publish(eventText(due));
    stats.published++;
  };

  /** Poll until the backlogs are under half their bounds, then call `next` (unless the mode changed). */
  const drain = (mine: number, next: () => void): void => {
    const started = performance.now();
    const poll = (): void => {
      if (mine !== generation) return;
      if (over(2)) {
        setTimeout(poll, POLL_MS);
        return;
      }
      stats.waitedMs += performance.now() - started;
      next();
    };
    setTimeout(poll, POLL_MS);
  };

  const atRate = (mine: number, eventsPerSecond: number): void => {
    const interval = 1e6 / eventsPerSecond;
    let due = nowMicros();
    const tick = (): void => {
      if (mine !== generation) return;
      if (over(1)) {
        drain(mine, tick);
        return;
      }
      const now = nowMicros();
      for (let n = 0; due <= now && n < MAX_PER_TICK; n++) {
        publish(due);
        due += interval;
      }
      setTimeout(tick, POLL_MS);
    };
    tick();
  };

  const send = (message: FanoutServerMessage): void => {
    if (process.connected && process.send !== undefined) process.send(message);
  };
  process.on('message', (raw: unknown) => {
    const command = raw as FanoutServerCommand;
    if (command.type === 'fanout-stats') {
      const out: FanoutPublisherStats = { ...stats, clients: target.clients.size, cpu: cpuSample() };
      send({ type: 'fanout-stats', stats: out });
    } else if (command.type === 'fanout-mode') {
      const mine = ++generation;
      const mode: FanoutMode = command.mode;
      if (mode.kind === 'rate') atRate(mine, mode.eventsPerSecond);
      send({ type: 'fanout-mode-set' });
    }
  });
}

/** The plan a fan-out server is started with (argv[3], JSON; argv[2] is the harness's lifetime). */
export function fanoutPlan(): FanoutServerPlan {
  const plan = JSON.parse(process.argv[3] ?? 'null') as FanoutServerPlan | null;
  if (
    plan === null ||
    !(plan.clients > 0) ||
    !['sse-h1', 'sse-h2', 'ws', 'hub', 'socket.io'].includes(plan.transport)
  ) {
    console.error('a fan-out server needs its plan as JSON in argv[3] (bench/scenarios/fanout.js)');
    process.exit(2);
  }
  return plan;
}
