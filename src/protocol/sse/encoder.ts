/**
 * The sending side of Server-Sent Events, sans-I/O: events, retry hints and comments as text in the
 * `text/event-stream` format (WHATWG HTML, "Server-sent events"), which the parser in parser.ts and
 * every EventSource read back exactly.
 *
 * - Data of several lines (CRLF, LF or CR) becomes one `data:` field per line; empty data is sent as
 *   one empty `data:` field, so the event is still dispatched (with data "").
 * - Every value is written after "field: ", so a value starting with a space keeps it (the reader
 *   drops exactly one).
 * - What a reader could not read back is refused with a TypeError rather than sent wrong: an event
 *   type or id containing a line break, an id containing U+0000 (readers ignore such an id), a retry
 *   that is not a non-negative integer.
 */

export interface SseMessage {
  /** The payload. Omit it to send only an id and/or retry (readers dispatch nothing then). */
  data?: string;
  /** The event type; readers use "message" when it is absent or empty. */
  event?: string;
  /** The event id: readers remember it and send it back as Last-Event-ID when they reconnect. */
  id?: string;
  /** A new reconnection time for the reader, in milliseconds. */
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;

/** One event as text, ending with the blank line that dispatches it. */
export function encodeEvent(message: SseMessage): string {
  let out = '';
  if (message.event !== undefined) {
    refuseLineBreaks('event', message.event);
    out += `event: ${message.event}\n`;
  }
  if (message.id !== undefined) {
    refuseLineBreaks('id', message.id);
    if (message.id.includes('\u0000'))
      throw new TypeError('an SSE id cannot contain U+0000 (readers ignore it)');
    out += `id: ${message.id}\n`;
  }
  if (message.retry !== undefined) out += encodeRetryField(message.retry);
  if (message.data !== undefined) {
    for (const line of message.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  }
  return `${out}\n`;
}

/** A retry hint on its own (no event is dispatched by it). */
export function encodeRetry(ms: number): string {
  return `${encodeRetryField(ms)}\n`;
}

/** A comment, one `:` line per line of `text`. Readers ignore comments: they keep connections alive. */
export function encodeComment(text = ''): string {
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += line.length === 0 ? ':\n' : `: ${line}\n`;
  return out;
}

function encodeRetryField(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new TypeError(`an SSE retry must be a non-negative integer of milliseconds, not ${ms}`);
  }
  return `retry: ${ms}\n`;
}

function refuseLineBreaks(field: string, value: string): void {
  if (LINE_BREAK.test(value)) throw new TypeError(`an SSE ${field} cannot contain a line break`);
}
