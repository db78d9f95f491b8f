/** RFC 6455 section 7.4.1 status codes, and the rule for which of them may appear on the wire. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reserved: MUST NOT be sent; the API reports it when a close frame carried no status code. */
  NoStatus: 1005,
  /** Reserved: MUST NOT be sent; the API reports it when the connection closed without a close frame. */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  /** Reserved: MUST NOT be sent (TLS handshake failure). */
  TlsHandshake: 1015,
} as const;

/**
 * May this code be carried by a close frame? Section 7.4.1 defines 1000-1003 and 1007-1011; 1004, 1005,
 * 1006 and 1015 are reserved and MUST NOT be sent; 1012-1014 are registered with IANA since (service
 * restart, try again later, bad gateway) and accepted by browsers and ws; 3000-3999 are registered
 * codes for libraries and frameworks; 4000-4999 are private. Everything else below 5000 is reserved for
 * future standards and fails the connection with 1002 when received.
 */
export function isValidWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Codes an application may pass to close() (WHATWG: 1000 or 3000-4999; Node API: any wire code). */
export function isValidApplicationCloseCode(code: number): boolean {
  return Number.isInteger(code) && isValidWireCloseCode(code);
}
