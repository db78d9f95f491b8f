/** Helpers for tests of `conduit serve`'s SSE channels and of EventSource clients. */
import { EventStreamParser, type SseEvent } from '../../src/protocol/sse/parser.js';
import type { RunningServer } from '../../src/server/serve.js';

/** Subscribers of `channel` on `server` right now. */
export function channelSubscribers(server: RunningServer, channel: string): number {
  // biome-ignore lint/complexity/useLiteralKeys: reading a private field in a test
  return server.channels['channels'].get(channel)?.subscribers.size ?? 0;
}

/** Wait until `channel` has `n` subscribers (so a publish cannot race the subscription). */
export async function waitForSubscribers(
  server: RunningServer,
  channel: string,
  n: number,
  ms = 5000,
): Promise<void> {
  const until = Date.now() + ms;
  while (channelSubscribers(server, channel) < n) {
    if (Date.now() > until)
      throw new Error(`${channel}: ${channelSubscribers(server, channel)} of ${n} subscribers`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolve with the first `n` events of `type` dispatched on `source` (any EventSource). */
export function collectEvents(
  source: EventTarget,
  type: string,
  n: number,
  ms = 5000,
): Promise<MessageEvent[]> {
  return new Promise((resolve, reject) => {
    const got: MessageEvent[] = [];
    const timer = setTimeout(() => reject(new Error(`only ${got.length} ${type} events`)), ms);
    source.addEventListener(type, (e) => {
      got.push(e as MessageEvent);
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

/**
 * GET an SSE URL with fetch and read events (parsed by our WHATWG parser) until `count` arrived or the
 * stream ended; then leave. Fails after `ms`.
 */
export async function readEvents(
  url: string,
  count: number,
  headers: Record<string, string> = {},
  ms = 5000,
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const res = await fetch(url, { headers, signal: controller.signal });
    if (res.status !== 200) throw new Error(`${url}: status ${res.status}`);
    const parser = new EventStreamParser();
    const events: SseEvent[] = [];
    const reader = res.body!.getReader();
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const item of parser.feed(value)) if (item.kind === 'event') events.push(item);
    }
    controller.abort();
    return events;
  } finally {
    clearTimeout(timer);
  }
}
