/**
 * The hub protocol, version 1 (`conduit.v1`; docs/protocol.md): JSON objects, one per WebSocket text
 * message, SSE event or long-poll array item. This file is the wire format only: the message types,
 * the error codes, and the parser that turns a client's text into a typed message or a HubProtocolError
 * (sans-I/O: no sockets, no clock).
 */

export const PROTOCOL_VERSION = 2;
/** The WebSocket subprotocol of version 1. */
export const SUBPROTOCOL = 'conduit.v1';

/** A position in a channel: the last publication a client has. */
export interface WirePosition {
  epoch: string;
  offset: number;
}

export interface WireMember {
  session: string;
  user: string | null;
}

// Client -> server ------------------------------------------------------------------------------------

export type ClientMessage =
  | { type: 'subscribe'; id: number; channel: string; since: WirePosition | null; presence: boolean }
  | { type: 'unsubscribe'; id: number; channel: string }
  | { type: 'publish'; id: number; channel: string; data: string; cmid: string }
  | { type: 'presence'; id: number; channel: string }
  | { type: 'ping' }
  | { type: 'pong' }
  /** The client is done: end the session now (presence leaves at once) rather than after the TTL. */
  | { type: 'bye' };

// Server -> client ------------------------------------------------------------------------------------

export type ServerMessage =
  | {
      type: 'connected';
      v: number;
      /** The session's id: public (in messages' `from` and in presence). */
      session: string;
      /** What resumes the session (`?session=KEY`): only this client is told; keep it secret. */
      key: string;
      resumed: boolean;
      ping: number;
      transport: string;
      /** Which server node the client is on (several nodes behind one URL), when it has a name. */
      node?: string;
    }
  | {
      type: 'subscribed';
      id: number;
      channel: string;
      epoch: string;
      offset: number;
      recovered: boolean;
      reason?: 'epoch' | 'trimmed';
    }
  | { type: 'unsubscribed'; id: number; channel: string }
  | {
      type: 'message';
      channel: string;
      epoch: string;
      offset: number;
      data: string;
      from: WireMember | null;
    }
  | { type: 'ack'; id: number; channel: string; epoch: string; offset: number }
  | { type: 'presence'; id: number; channel: string; members: WireMember[] }
  | { type: 'join' | 'leave'; channel: string; member: WireMember }
  /** Publications of the channel were dropped for this client (slow consumer): resubscribe from the last offset. */
  | { type: 'gap'; channel: string }
  | { type: 'error'; id?: number; code: HubErrorCode; message: string }
  | { type: 'ping' }
  | { type: 'pong' }
  | { type: 'disconnect'; code: number; reason: string; reconnect: boolean };

/**
 * Error codes, stable strings (docs/protocol.md). A request's error carries its id; the session lives
 * on unless the close codes below say otherwise.
 */
export type HubErrorCode =
  /** Not JSON, not an object, a field missing or of the wrong type. */
  | 'BAD_MESSAGE'
  /** A `type` this version does not know. */
  | 'UNKNOWN_TYPE'
  /** The message is over the size limit. */
  | 'TOO_LARGE'
  /** The channel name is not 1-128 characters of A-Z a-z 0-9 . _ : - / */
  | 'BAD_CHANNEL'
  /** The authorize hook (or the token's channels) refused the action. */
  | 'FORBIDDEN'
  | 'NOT_SUBSCRIBED'
  /** A resume offset this epoch has not reached. */
  | 'OFFSET_FROM_THE_FUTURE'
  /** The session key given is unknown, expired or not this server's: a new session was started. */
  | 'SESSION_UNKNOWN'
  /**
   * A bare session id was given to resume (protocol version 1): refused, the id is public. The client
   * must be updated to resume with the `key` of its `connected`.
   */
  | 'SESSION_KEY_REQUIRED'
  /** The token is missing, malformed, forged, expired or already used. */
  | 'TOKEN_INVALID'
  /** The broker could not take the request (try again). */
  | 'UNAVAILABLE'
  /** Too many subscriptions on one session. */
  | 'LIMIT';

/** WebSocket close codes of the hub (4000-4999: private use, RFC 6455 section 7.4.2). */
export const HubCloseCode = {
  /** The token was refused at connect. */
  Unauthorized: 4001,
  /** Too many bad messages in a row. */
  ProtocolViolation: 4002,
  /** A client of protocol version 1 tried to resume with a bare session id (SESSION_KEY_REQUIRED). */
  ClientTooOld: 4003,
  /** The per-session queue overflowed under the 'disconnect' policy. */
  SlowConsumer: 4008,
  /** No message or pong from the peer within the liveness bound. */
  Unresponsive: 4009,
  /**
   * Too many of the session's publishes wait for the broker (a slow Redis): the client reconnects and
   * sends its unacknowledged publishes again, in order.
   */
  PublishesWaiting: 4013,
} as const;

export class HubProtocolError extends Error {
  constructor(
    readonly code: HubErrorCode,
    message: string,
    /** The request's id, when the message had a readable one. */
    readonly id?: number,
  ) {
    super(message);
    this.name = 'HubProtocolError';
  }
}

const CHANNEL = /^[A-Za-z0-9._:/-]{1,128}$/;

export function isChannelName(name: string): boolean {
  return CHANNEL.test(name);
}

/** Parse one client message; throws HubProtocolError with the code to answer. */
export function parseClientMessage(text: string, maxBytes: number): ClientMessage {
  // A UTF-16 code unit is 1 to 3 UTF-8 bytes: count the bytes only when the length leaves it open.
  if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) {
    throw new HubProtocolError('TOO_LARGE', `message over ${maxBytes} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HubProtocolError('BAD_MESSAGE', 'not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HubProtocolError('BAD_MESSAGE', 'not a JSON object');
  }
  const m = raw as Record<string, unknown>;
  const type = m.type;
  if (typeof type !== 'string') throw new HubProtocolError('BAD_MESSAGE', 'type must be a string');
  if (type === 'ping' || type === 'pong' || type === 'bye') return { type };
  const id = m.id;
  if (!Number.isSafeInteger(id) || (id as number) < 0) {
    throw new HubProtocolError('BAD_MESSAGE', 'id must be a non-negative integer');
  }
  const request = id as number;
  const known = ['subscribe', 'unsubscribe', 'publish', 'presence'];
  if (!known.includes(type)) throw new HubProtocolError('UNKNOWN_TYPE', `unknown type ${type}`, request);
  const channel = m.channel;
  if (typeof channel !== 'string')
    throw new HubProtocolError('BAD_MESSAGE', 'channel must be a string', request);
  if (!isChannelName(channel)) {
    throw new HubProtocolError('BAD_CHANNEL', 'channel: 1-128 characters of A-Z a-z 0-9 . _ : - /', request);
  }
  switch (type) {
    case 'subscribe':
      return {
        type,
        id: request,
        channel,
        since: position(m.since, request),
        presence: m.presence === true,
      };
    case 'unsubscribe':
    case 'presence':
      return { type, id: request, channel };
    default: {
      if (typeof m.data !== 'string')
        throw new HubProtocolError('BAD_MESSAGE', 'data must be a string', request);
      const cmid = m.cmid;
      if (typeof cmid !== 'string' || cmid.length === 0 || cmid.length > 64) {
        throw new HubProtocolError('BAD_MESSAGE', 'cmid must be a string of 1-64 characters', request);
      }
      return { type: 'publish', id: request, channel, data: m.data, cmid };
    }
  }
}

function position(value: unknown, id: number): WirePosition | null {
  if (value === undefined || value === null) return null;
  const p = value as Record<string, unknown>;
  if (
    typeof value !== 'object' ||
    typeof p.epoch !== 'string' ||
    p.epoch.length > 64 ||
    !Number.isSafeInteger(p.offset) ||
    (p.offset as number) < 0
  ) {
    throw new HubProtocolError('BAD_MESSAGE', 'since must be {epoch: string, offset: integer >= 0}', id);
  }
  return { epoch: p.epoch, offset: p.offset as number };
}

/** What a client of protocol version 1 is told when it resumes with a bare session id. */
export const SESSION_KEY_REQUIRED_MESSAGE =
  'resuming needs the session key of `connected` (protocol version 2), not the public session id: update the client';

/** The JSON text of a server message. */
export function encodeServerMessage(message: ServerMessage): string {
  return JSON.stringify(message);
}
