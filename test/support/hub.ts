/** Helpers for the hub core's tests: a fake clock, an in-memory transport, a way to let promises settle. */
import type { ServerMessage } from '../../src/protocol/hub/messages.js';
import type { HubClock } from '../../src/session/hub.js';
import type { HubTransport, Outbound, TransportKind } from '../../src/session/transport.js';

export class FakeClock implements HubClock {
  time = 0;
  private readonly timers: { every: number; next: number; tick: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.time;
  }

  every(ms: number, tick: () => void): { cancel(): void } {
    const timer = { every: ms, next: this.time + ms, tick, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Move time forward, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.next <= end).sort((a, b) => a.next - b.next)[0];
      if (due === undefined) break;
      this.time = due.next;
      due.next += due.every;
      due.tick();
    }
    this.time = end;
  }
}

/** A transport that keeps what it is given, decoded; `writable` can be switched off (backpressure). */
export class MemoryTransport implements HubTransport {
  writable = true;
  readonly received: ServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  commits = 0;

  constructor(readonly kind: TransportKind = 'websocket') {}

  write(message: Outbound): void {
    this.received.push(JSON.parse(message.text) as ServerMessage);
  }

  commit(): void {
    this.commits++;
  }

  close(code: number, reason: string): void {
    this.closed = { code, reason };
    this.writable = false;
  }

  /** The messages received of one type. */
  of<T extends ServerMessage['type']>(type: T): (ServerMessage & { type: T })[] {
    return this.received.filter((m) => m.type === type) as (ServerMessage & { type: T })[];
  }

  /** The data of the publications received on `channel`, in order. */
  data(channel: string): string[] {
    return this.of('message')
      .filter((m) => m.channel === channel)
      .map((m) => m.data);
  }
}

/** Let pending promise callbacks run (the hub's broker calls are asynchronous). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}
