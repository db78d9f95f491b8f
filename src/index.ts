/** Conduit's public API. */

export {
  type ClientEvents as HubClientEvents,
  type ClientState as HubClientState,
  ConduitClient,
  type ConnectOptions as HubConnectOptions,
  HubError,
  type HubMessage,
  type Member as HubMember,
  type Position as HubPosition,
  type SubscribedInfo,
  Subscription as HubSubscription,
} from './client/index.js';
export { connectHub } from './client/node.js';
export type {
  DeflateMode,
  PerMessageDeflateOptions,
  ShortMessages,
} from './pipeline/permessage-deflate.js';
export { setZlibConcurrency } from './pipeline/zlib-limiter.js';
export { HandshakeError, ProtocolError } from './protocol/errors.js';
export { encodeComment, encodeEvent, encodeRetry, type SseMessage } from './protocol/sse/encoder.js';
export { EventStreamParser, type SseEvent, type SseItem } from './protocol/sse/parser.js';
export { AssemblyBudget } from './protocol/ws/assembly.js';
export { CloseCode, isValidWireCloseCode } from './protocol/ws/close-codes.js';
export type { FrameInfo } from './protocol/ws/connection.js';
export { HubAccess, type HubAccessOptions } from './server/hub-access.js';
export type { HubHttpOptions } from './server/hub-http.js';
export { type RunningServer, type ServeOptions, startServer } from './server/serve.js';
export { SseChannels, type SseChannelsOptions } from './server/sse-channels.js';
export { MemoryBroker } from './session/brokers/memory.js';
export { RedisBroker, type RedisBrokerOptions } from './session/brokers/redis.js';
export { Hub, type HubIdentity, type HubOptions, type HubStats } from './session/hub.js';
export type { PublishGateLimits } from './session/publish-gate.js';
export { SseStream, type SseStreamOptions } from './transports/sse/stream.js';
export { type ClientOptions, connect } from './transports/ws/client.js';
export {
  NotOpenError,
  type SendOptions,
  WebSocketConnection,
  type WebSocketConnectionEvents,
  type WebSocketData,
} from './transports/ws/connection.js';
export { PreparedMessage } from './transports/ws/prepared.js';
export {
  type AuthResult,
  WebSocketServer,
  type WebSocketServerEvents,
  type WebSocketServerOptions,
} from './transports/ws/server.js';
export { EventSource, type EventSourceInit, type NodeEventSourceInit } from './web/event-source.js';
export { CloseEvent, ErrorEvent } from './web/events.js';
export { type BinaryType, WebSocket, type WebSocketOptions } from './web/websocket.js';
