/**
 * Raw hub protocol clients for the transports' tests, one per transport, all with the same shape: send
 * client messages, wait for server messages by type, drop the connection. Built on real sockets: the
 * `ws` package for WebSocket, fetch (Node's undici) for SSE, long-polling and POST.
 */
import { WebSocket } from 'ws';
import type { ServerMessage } from '../../src/protocol/hub/messages.js';
import { EventStreamParser } from '../../src/protocol/sse/parser.js';

export type Message<T extends ServerMessage['type']> =
  Extract<ServerMessage, { type: T }> extends never
    ? ServerMessage & { type: T }
    : Extract<ServerMessage, { type: T }>;

export interface HubTestClient {
  /** Every server message received, in order. */
  readonly got: ServerMessage[];
  /** The session id, once `connected` came (public). */
  readonly session: string;
  /** The session key, once `connected` came: what resumes the session (`?session=KEY`). */
  readonly key: string;
  send(message: Record<string, unknown>): Promise<void>;
  /** The next message of `type` not yet taken (waits up to `ms`). */
  next<T extends ServerMessage['type']>(type: T, ms?: number): Promise<Message<T>>;
  /** Drop the connection without a goodbye. */
  kill(): void;
}

/** Received messages, taken in order by type. */
class Inbox {
  readonly got: ServerMessage[] = [];
  private taken = new Set<number>();
  private waiters: (() => void)[] = [];

  push(message: ServerMessage): void {
    this.got.push(message);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The next message of `type` not yet taken; `take: false` leaves it for a later call. */
  async next<T extends ServerMessage['type']>(type: T, ms = 5000, take = true): Promise<Message<T>> {
    const until = Date.now() + ms;
    for (;;) {
      const index = this.got.findIndex((m, i) => m.type === type && !this.taken.has(i));
      if (index >= 0) {
        if (take) this.taken.add(index);
        return this.got[index] as Message<T>;
      }
      const left = until - Date.now();
      if (left <= 0)
        throw new Error(`no ${type} message; got ${JSON.stringify(this.got.map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  session(): string {
    return this.hello().session;
  }

  key(): string {
    return this.hello().key;
  }

  private hello(): Message<'connected'> {
    const hello = this.got.find((m) => m.type === 'connected') as Message<'connected'> | undefined;
    if (hello === undefined) throw new Error('not connected yet');
    return hello;
  }
}

/** `query` is appended to the URL as is ('?session=...&token=...'). */
export async function wsClient(base: string, query = ''): Promise<HubTestClient & { ws: WebSocket }> {
  const inbox = new Inbox();
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws${query}`, 'conduit.v1');
  ws.on('message', (data) => inbox.push(JSON.parse(String(data)) as ServerMessage));
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  // `connected` may come a tick after the 101 (ws inflates permessage-deflate messages in zlib's pool).
  await inbox.next('connected', 5000, false);
  return {
    ws,
    got: inbox.got,
    get session() {
      return inbox.session();
    },
    get key() {
      return inbox.key();
    },
    send: async (m) => ws.send(JSON.stringify(m)),
    next: (type, ms) => inbox.next(type, ms),
    kill: () => ws.terminate(),
  };
}

/** POST client messages of a session (named by its key), one per line. Returns the response. */
export function post(base: string, session: string, messages: unknown[], extra = ''): Promise<Response> {
  return fetch(`${base}/hub/send?session=${session}${extra}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: messages.map((m) => JSON.stringify(m)).join('\n'),
  });
}

/** SSE down, POST up. `query` as for wsClient; `extra` is added to every POST's URL ('&token=...'). */
export async function sseClient(
  base: string,
  query = '',
  extra = '',
): Promise<HubTestClient & { closed: Promise<void> }> {
  const inbox = new Inbox();
  const controller = new AbortController();
  const res = await fetch(`${base}/hub/sse${query}`, { signal: controller.signal });
  if (res.status !== 200) throw new Error(`/hub/sse: status ${res.status}: ${await res.text()}`);
  const parser = new EventStreamParser();
  const reader = res.body!.getReader();
  const closed = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        for (const item of parser.feed(value)) {
          if (item.kind === 'event') inbox.push(JSON.parse(item.data) as ServerMessage);
        }
      }
    } catch {
      // aborted
    }
  })();
  await inbox.next('connected', 5000, false);
  return postingClient(inbox, base, extra, { closed, kill: () => controller.abort() });
}

/** Long-polling down, POST up: polls until killed or told to disconnect. */
export async function pollingClient(
  base: string,
  query = '',
  extra = '',
): Promise<HubTestClient & { polls: () => number }> {
  const inbox = new Inbox();
  const controller = new AbortController();
  const t = `t${globalThis.crypto.randomUUID().replaceAll('-', '')}`;
  const params = new URLSearchParams(query.slice(1));
  params.set('t', t);
  let polls = 0;
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      const url = `${base}/hub/poll?${params}`;
      let text: string;
      try {
        const res = await fetch(url, { signal: controller.signal });
        polls++;
        text = await res.text();
        if (res.status !== 200) throw new Error(`/hub/poll: ${res.status} ${text}`);
      } catch {
        return;
      }
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const message = JSON.parse(line) as ServerMessage;
        if (message.type === 'connected') params.set('session', message.key);
        inbox.push(message);
        if (message.type === 'disconnect') stopped = true;
      }
    }
  };
  void loop();
  await inbox.next('connected', 5000, false);
  return postingClient(inbox, base, extra, {
    polls: () => polls,
    kill: () => {
      stopped = true;
      controller.abort();
    },
  });
}

/** The HTTP transports' clients: messages up by POST; `more` adds the transport's own members. */
function postingClient<T extends { kill(): void }>(
  inbox: Inbox,
  base: string,
  extra: string,
  more: T,
): Omit<HubTestClient, 'kill'> & T {
  const client = {
    got: inbox.got,
    get session() {
      return inbox.session();
    },
    get key() {
      return inbox.key();
    },
    async send(m: Record<string, unknown>) {
      const answer = await post(base, inbox.key(), [m], extra);
      if (answer.status !== 204) throw new Error(`POST: ${answer.status} ${await answer.text()}`);
    },
    next: <K extends ServerMessage['type']>(type: K, ms?: number) => inbox.next(type, ms),
  };
  return Object.assign(client, more);
}
