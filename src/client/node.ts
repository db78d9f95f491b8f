/** The hub client in Node: `connect` with Conduit's own WebSocket and EventSource as its transports. */
import { EventSource } from '../web/event-source.js';
import { WebSocket } from '../web/websocket.js';
import { type ConduitClient, type ConnectOptions, connect } from './client.js';
import type { EventSourceConstructor, WebSocketConstructor } from './transport.js';

export function connectHub(url: string, options: ConnectOptions = {}): ConduitClient {
  return connect(url, {
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    EventSource: EventSource as unknown as EventSourceConstructor,
    ...options,
  });
}
