/**
 * The client's view of a transport: it sends lines of JSON (client messages), hands over every line
 * it receives (server messages), and reports its end once. WebSocket, SSE+POST and long-polling
 * implement it (transport-*.ts); the client core does the rest (client.ts).
 */
export type TransportKind = 'websocket' | 'sse' | 'polling';

export interface TransportEnd {
  /** A WebSocket close code (1006 for a network failure or a refused request). */
  code: number;
  reason: string;
  /** The server refused the token (close 4001 or HTTP 401): reconnecting with it would not help. */
  unauthorized: boolean;
}

export interface TransportHandlers {
  message(text: string): void;
  /** Called at most once; not after the client called close(). */
  end(info: TransportEnd): void;
}

export interface ClientTransport {
  readonly kind: TransportKind;
  send(text: string): void;
  /**
   * Close it. `bye`: the client is done with its session (sent, then a clean close); without it the
   * close looks like a network failure to the server, which keeps the session for a resume.
   */
  close(bye?: boolean): void;
}

/** Constructors the client needs: the browser's globals, or Conduit's own classes in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string, protocols: string) => WebSocketLike;

export interface EventSourceLike {
  onmessage: ((event: { data: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

export type FetchFunction = (
  url: string,
  init?: {
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    signal?: AbortSignal;
    keepalive?: boolean;
  },
) => Promise<{ status: number; text(): Promise<string> }>;

export interface TransportContext {
  /** Base URL (http: or https:), without a trailing slash. */
  base: string;
  /** Query parameters for every request: session (once known) and token. */
  query(): URLSearchParams;
  WebSocket: WebSocketConstructor | undefined;
  EventSource: EventSourceConstructor | undefined;
  fetch: FetchFunction;
  paths: { ws: string; sse: string; poll: string; send: string };
}
