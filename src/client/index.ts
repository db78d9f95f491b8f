/**
 * Conduit's hub client: `connect(url, options)`. Bundled to one ESM file served at /conduit.js; from
 * Node, import `connectHub` from the package (it brings Conduit's own WebSocket and EventSource).
 */
export {
  type ClientEvents,
  type ClientState,
  ConduitClient,
  type ConnectOptions,
  connect,
} from './client.js';
export {
  HubError,
  type HubMessage,
  type Member,
  type Position,
  type SubscribedInfo,
  Subscription,
  type SubscriptionEvents,
} from './subscription.js';
export type { TransportEnd, TransportKind } from './transport.js';
