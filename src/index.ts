/** Conduit's public API. */
export { CloseCode, isValidWireCloseCode } from './protocol/ws/close-codes.js';
export { HandshakeError, ProtocolError } from './protocol/errors.js';
export type { FrameInfo } from './protocol/ws/connection.js';
export {
  NotOpenError,
  type SendOptions,
  type WebSocketConnectionEvents,
  WebSocketConnection,
  type WebSocketData,
} from './transports/ws/connection.js';
export { type ClientOptions, connect } from './transports/ws/client.js';
export {
  type AuthResult,
  WebSocketServer,
  type WebSocketServerEvents,
  type WebSocketServerOptions,
} from './transports/ws/server.js';
export { CloseEvent, ErrorEvent } from './web/events.js';
export { type BinaryType, WebSocket, type WebSocketOptions } from './web/websocket.js';
export { type RunningServer, type ServeOptions, startServer } from './server/serve.js';
