/**
 * The receiving side of Server-Sent Events, sans-I/O: the WHATWG HTML "event stream interpretation"
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation), to
 * the letter. Bytes go in, in chunks cut anywhere; events, retry hints and comments come out.
 *
 * - The stream is decoded as UTF-8: one leading BOM is dropped, invalid sequences become U+FFFD, and
 *   a character split across chunks is joined.
 * - Lines end with CRLF, LF or CR, a CRLF split across chunks counting once.
 * - A line that starts with a colon is a comment; otherwise the field name runs to the first colon
 *   (the whole line when there is none) and one space after the colon is dropped from the value.
 * - `event` sets the type, `data` appends its value and a LF, `id` sets the last event ID unless the
 *   value contains U+0000, `retry` sets the reconnection time when the value is ASCII digits only;
 *   other fields are ignored.
 * - A blank line dispatches: the last event ID is updated even when there is no data; without data
 *   nothing is dispatched; one trailing LF is removed from the data; the type defaults to "message".
 * - At the end of the stream an event not yet dispatched is discarded.
 */

/** A dispatched event, as an EventSource would deliver it. */
export interface SseEvent {
  readonly kind: 'event';
  /** The event type: the last `event` field's value, or "message". */
  readonly type: string;
  readonly data: string;
  /** The last event ID at dispatch time (it carries over from earlier events). */
  readonly lastEventId: string;
}

/** A `retry` field with a valid value: the new reconnection time, in milliseconds. */
export interface SseRetry {
  readonly kind: 'retry';
  readonly ms: number;
}

/** A comment line (the text after the colon, unchanged). Keepalives are comments. */
export interface SseComment {
  readonly kind: 'comment';
  readonly text: string;
}

export type SseItem = SseEvent | SseRetry | SseComment;

export interface EventStreamParserOptions {
  /** Report comment lines too (default false: a client has no use for them). */
  comments?: boolean;
  /** The last event ID to start from (an EventSource reconnecting keeps its own). Default "". */
  lastEventId?: string;
  /**
   * Longest line, in UTF-16 code units, held while waiting for its end. Past it `feed` throws a
   * RangeError, so a peer that never ends a line cannot grow the buffer without bound. Default 1 MiB.
   */
  maxLineLength?: number;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const DEFAULT_MAX_LINE = 1024 * 1024;

export class EventStreamParser {
  /** The last event ID: what an EventSource sends as Last-Event-ID when it reconnects. */
  lastEventId: string;
  private readonly decoder = new TextDecoder('utf-8');
  private readonly comments: boolean;
  private readonly maxLineLength: number;
  /** Text not yet split into lines (the start of an unfinished line). */
  private pending = '';
  /** The previous chunk ended with CR: a LF first in the next one belongs to it. */
  private afterCr = false;
  private type = '';
  /** The data buffer: every `data` field's value followed by a LF. */
  private data = '';
  private idBuffer: string;
  private ended = false;

  constructor(options: EventStreamParserOptions = {}) {
    this.comments = options.comments === true;
    this.maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE;
    this.lastEventId = options.lastEventId ?? '';
    this.idBuffer = this.lastEventId;
  }

  /** Parse the next chunk of the stream; returns what it completed, in order. */
  feed(chunk: Uint8Array | string): SseItem[] {
    if (this.ended) throw new Error('the event stream has ended');
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const out: SseItem[] = [];
    this.lines(text, out);
    return out;
  }

  /**
   * The stream ended: "any pending data must be discarded". A last line without its line end is not
   * a line, and an event without its blank line is not dispatched. The parser takes no more input.
   */
  end(): void {
    this.ended = true;
    this.decoder.decode();
    this.pending = '';
    this.data = '';
    this.type = '';
  }

  private lines(text: string, out: SseItem[]): void {
    let start = 0;
    if (this.afterCr && text.length > 0) {
      this.afterCr = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    const n = text.length;
    let i = start;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) {
        i++;
        continue;
      }
      const piece = text.slice(start, i);
      const line = this.pending.length > 0 ? this.pending + piece : piece;
      this.pending = '';
      this.line(line, out);
      if (c === CR) {
        if (i + 1 < n) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else {
          this.afterCr = true;
        }
      }
      i++;
      start = i;
    }
    if (start < n) {
      this.pending += text.slice(start);
      if (this.pending.length > this.maxLineLength) {
        this.pending = '';
        throw new RangeError(`event stream line longer than ${this.maxLineLength} characters`);
      }
    }
  }

  private line(line: string, out: SseItem[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      if (this.comments) out.push({ kind: 'comment', text: line.slice(1) });
      return;
    }
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      const from = line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1;
      value = line.slice(from);
    }
    this.field(field, value, out);
  }

  private field(field: string, value: string, out: SseItem[]): void {
    switch (field) {
      case 'event':
        this.type = value;
        return;
      case 'data':
        this.data += `${value}\n`;
        return;
      case 'id':
        if (!value.includes('\u0000')) this.idBuffer = value;
        return;
      case 'retry':
        if (isAsciiDigits(value)) out.push({ kind: 'retry', ms: Number(value) });
        return;
      default:
        return;
    }
  }

  private dispatch(out: SseItem[]): void {
    this.lastEventId = this.idBuffer;
    if (this.data.length === 0) {
      this.type = '';
      return;
    }
    // The buffer always ends with the LF its last data field added: remove it.
    const data = this.data.slice(0, -1);
    const type = this.type === '' ? 'message' : this.type;
    out.push({ kind: 'event', type, data, lastEventId: this.lastEventId });
    this.data = '';
    this.type = '';
  }
}

function isAsciiDigits(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
