/**
 * The hub's long-polling transport, server to client. The client keeps one GET waiting; the session
 * writes into it while it waits, and `commit()` answers it with what was written (one hub message per
 * line, NDJSON). A GET with nothing to send is answered empty after the poll timeout; a newer GET of
 * the same transport answers the older one empty first. Closing answers the waiting GET (or the next
 * one) with a `disconnect` message.
 *
 * A failed GET loses its answer: the client then opens a new transport with its session id and
 * resubscribes from its positions, as after any transport failure, so nothing is lost.
 */
import type { HubTransport, Outbound } from '../session/transport.js';
import type { HttpResponse } from './http-body.js';
import { disconnectText } from './hub-sse.js';

/** Largest answer, UTF-16 code units, before the rest waits for the next GET. */
const MAX_BATCH_UNITS = 1024 * 1024;

/** A GET waiting for lines: an HTTP response here, or a poll forwarded from another node (hub-mesh.ts). */
export interface PollWaiter {
  answer(lines: string[]): void;
  /** The waiter went away before being answered (the client closed the request). */
  onGone(listener: () => void): void;
}

/** The waiter of a local GET: answers it with NDJSON. */
export function responseWaiter(res: HttpResponse): PollWaiter {
  return {
    answer: (lines) => answer(res, lines),
    onGone: (listener) => res.on('close', listener),
  };
}

export class PollingTransport implements HubTransport {
  readonly kind = 'polling';
  private waiting: { waiter: PollWaiter; timer: NodeJS.Timeout } | null = null;
  private batch: string[] = [];
  private units = 0;
  private closedWith: string | null = null;

  constructor(
    private readonly pollTimeoutMs: number,
    /** Called once, when the transport closes (its id can be forgotten). */
    private readonly onClose: () => void,
  ) {}

  get writable(): boolean {
    return this.waiting !== null && this.closedWith === null && this.units < MAX_BATCH_UNITS;
  }

  get closed(): boolean {
    return this.closedWith !== null;
  }

  /** A GET arrived: it waits for messages (or is answered at once if the transport closed). */
  attach(waiter: PollWaiter): void {
    if (this.closedWith !== null) {
      waiter.answer([this.closedWith]);
      return;
    }
    if (this.waiting !== null) this.answerWaiting([]);
    const timer = setTimeout(() => this.answerWaiting([]), this.pollTimeoutMs);
    const waiting = { waiter, timer };
    this.waiting = waiting;
    waiter.onGone(() => {
      if (this.waiting !== waiting) return;
      clearTimeout(timer);
      this.waiting = null;
    });
  }

  write(message: Outbound): void {
    this.batch.push(message.text);
    this.units += message.text.length;
  }

  commit(): void {
    if (this.batch.length === 0) return;
    const lines = this.batch;
    this.batch = [];
    this.units = 0;
    this.answerWaiting(lines);
  }

  close(code: number, reason: string): void {
    if (this.closedWith !== null) return;
    this.closedWith = disconnectText(code, reason);
    const lines = this.batch;
    this.batch = [];
    this.units = 0;
    if (this.waiting !== null) this.answerWaiting([...lines, this.closedWith]);
    this.onClose();
  }

  private answerWaiting(lines: string[]): void {
    const waiting = this.waiting;
    if (waiting === null) return;
    this.waiting = null;
    clearTimeout(waiting.timer);
    waiting.waiter.answer(lines);
  }
}

/** Answer a GET with the lines, one per line (NDJSON). */
export function answer(res: HttpResponse, lines: string[]): void {
  const body = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  (res as import('node:http').ServerResponse)
    .writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    })
    .end(body);
}
