/**
 * Typed errors of the protocol cores. A misbehaving peer is reported with a `ProtocolError` that carries
 * the close code to fail the connection with and a stable string code; a refused or malformed HTTP
 * handshake is a `HandshakeError` with the HTTP status to answer. Local misuse is a plain TypeError or a
 * DOMException raised by the API layers, never one of these.
 */

export type ProtocolErrorCode =
  | 'WS_ERR_INVALID_OPCODE'
  | 'WS_ERR_UNEXPECTED_RSV'
  | 'WS_ERR_EXPECTED_MASK'
  | 'WS_ERR_UNEXPECTED_MASK'
  | 'WS_ERR_INVALID_CONTROL_FRAME'
  | 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'
  | 'WS_ERR_UNEXPECTED_CONTINUATION'
  | 'WS_ERR_EXPECTED_CONTINUATION'
  | 'WS_ERR_INVALID_UTF8'
  | 'WS_ERR_INVALID_CLOSE_CODE'
  | 'WS_ERR_INVALID_CLOSE_PAYLOAD'
  | 'WS_ERR_MESSAGE_TOO_BIG'
  | 'WS_ERR_TOO_MANY_FRAGMENTS'
  | 'WS_ERR_ALLOCATION_FAILED'
  | 'WS_ERR_BUDGET_EXCEEDED'
  | 'WS_ERR_INTERNAL'
  | 'WS_ERR_INVALID_COMPRESSED_DATA'
  | 'WS_ERR_DATA_AFTER_CLOSE';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    /** The close code to fail the connection with (RFC 6455 section 7.4.1). */
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

export type HandshakeErrorCode =
  /** The request head breaks HTTP/1.1's own rules (RFC 9112): two Host fields, a body, and so on. */
  | 'WS_ERR_BAD_REQUEST'
  | 'WS_ERR_BAD_METHOD'
  | 'WS_ERR_BAD_HTTP_VERSION'
  | 'WS_ERR_BAD_UPGRADE'
  | 'WS_ERR_BAD_CONNECTION'
  | 'WS_ERR_BAD_KEY'
  | 'WS_ERR_BAD_VERSION'
  | 'WS_ERR_BAD_PROTOCOL'
  | 'WS_ERR_BAD_EXTENSIONS'
  | 'WS_ERR_BAD_STATUS'
  | 'WS_ERR_BAD_ACCEPT'
  | 'WS_ERR_UNREQUESTED_PROTOCOL'
  | 'WS_ERR_UNREQUESTED_EXTENSION'
  | 'WS_ERR_REFUSED'
  | 'WS_ERR_FORBIDDEN_ORIGIN'
  | 'WS_ERR_NOT_FOUND'
  | 'WS_ERR_HANDSHAKE_TIMEOUT';

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  constructor(
    readonly code: HandshakeErrorCode,
    /** HTTP status the server answers with (or, on the client, the status it received). */
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}
