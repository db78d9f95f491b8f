/**
 * Client messages over POST for the HTTP transports: lines wait while a POST is in flight and go
 * together in the next one, so messages keep their order and the request count stays low. A failed
 * POST ends the transport (the client reconnects and resends what was not answered).
 */
import type { TransportContext, TransportEnd } from './transport.js';

/** Lines held while a POST is in flight, at most (the client's own queues bound them before that). */
const MAX_WAITING = 10_000;
/**
 * One POST carries at most this many lines and characters (the server takes 1 MiB by default, a line
 * is at most 64 KiB): a long backlog goes in several POSTs, each answered when the server has room.
 */
const LINES_PER_POST = 100;
const CHARS_PER_POST = 256 * 1024; // UTF-8: at most 3 bytes each, 768 KiB

export class Poster {
  private waiting: string[] = [];
  private inFlight = false;
  private stopped = false;
  private readonly controller = new AbortController();

  constructor(
    private readonly context: TransportContext,
    private readonly fail: (end: TransportEnd) => void,
  ) {}

  send(text: string): void {
    if (this.stopped) return;
    if (this.waiting.length >= MAX_WAITING) {
      this.fail({ code: 1008, reason: 'too many messages waiting to be posted', unauthorized: false });
      return;
    }
    this.waiting.push(text);
    if (!this.inFlight) void this.post();
  }

  /** Stop; with `bye`, one last request tells the server the session is over (it outlives the page). */
  stop(bye = false): void {
    this.stopped = true;
    this.controller.abort();
    if (!bye) return;
    void this.context
      .fetch(`${this.context.base}${this.context.paths.send}?${this.context.query()}`, {
        method: 'POST',
        body: '{"type":"bye"}',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        keepalive: true,
      })
      .catch(() => undefined);
  }

  /** The next POST's lines, in order: as many as fit its bounds (at least one). */
  private take(): string {
    let count = 0;
    let chars = 0;
    while (count < this.waiting.length && count < LINES_PER_POST) {
      chars += this.waiting[count]!.length + 1;
      if (count > 0 && chars > CHARS_PER_POST) break;
      count++;
    }
    return this.waiting.splice(0, count).join('\n');
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private async post(): Promise<void> {
    this.inFlight = true;
    while (this.waiting.length > 0 && !this.stopped) {
      const body = this.take();
      let status: number;
      try {
        const res = await this.context.fetch(
          `${this.context.base}${this.context.paths.send}?${this.context.query()}`,
          {
            method: 'POST',
            body,
            // text/plain: a "simple" request, no CORS preflight per POST.
            headers: { 'content-type': 'text/plain;charset=UTF-8' },
            signal: this.controller.signal,
          },
        );
        status = res.status;
        await res.text();
      } catch {
        status = 0;
      }
      if (this.stopped) break;
      if (status !== 204) {
        this.fail({
          code: 1006,
          reason: `POST failed (${status || 'network'})`,
          unauthorized: status === 401,
        });
        break;
      }
    }
    this.inFlight = false;
  }
}
