/**
 * Event classes of the WebSocket interface that Node 20 lacks as globals (CloseEvent, ErrorEvent).
 * MessageEvent is global in Node 20 and used as is.
 */

export interface CloseEventInit extends EventInit {
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/** WHATWG WebSockets: the CloseEvent interface. */
export class CloseEvent extends Event {
  readonly wasClean: boolean;
  readonly code: number;
  readonly reason: string;
  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.wasClean = init.wasClean ?? false;
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
  }
}

export interface ErrorEventInit extends EventInit {
  message?: string;
  error?: unknown;
}

/** HTML's ErrorEvent shape (browsers fire a plain Event; Node users want to know what went wrong). */
export class ErrorEvent extends Event {
  readonly message: string;
  readonly error: unknown;
  constructor(type: string, init: ErrorEventInit = {}) {
    super(type, init);
    this.message = init.message ?? '';
    this.error = init.error;
  }
}
