/**
 * Assertions about a failed connection (RFC 6455 section 7.1.7): exactly one ProtocolError with the
 * expected close code and string code, a close frame carrying that code as the last frame written
 * (masked when the failing side is a client), the transport asked to end, and an unclean 1006 at EOF.
 */
import assert from 'node:assert/strict';
import type { ProtocolErrorCode } from '../../src/protocol/errors.js';
import { type Connection, ReadyState } from '../../src/protocol/ws/connection.js';
import { decodeClose } from './frames.js';
import type { RecordingHandler } from './recorder.js';

export function expectFailed(
  conn: Connection,
  log: RecordingHandler,
  closeCode: number,
  errorCode: ProtocolErrorCode,
  note = '',
): void {
  const errors = log.errors();
  assert.equal(errors.length, 1, `one protocol error ${note}`);
  assert.equal(errors[0]!.closeCode, closeCode, `close code ${note}`);
  assert.equal(errors[0]!.code, errorCode, `error code ${note}`);
  assert.equal(conn.failure, errors[0]);
  const frames = log.writtenFrames();
  const closes = frames.filter((f) => f.opcode === 0x8);
  assert.equal(closes.length, 1, `one close frame written ${note}`);
  assert.equal(frames.at(-1), closes[0], `the close frame is the last frame written ${note}`);
  assert.equal(closes[0]!.masked, conn.role === 'client');
  const close = decodeClose(closes[0]!.payload);
  assert.equal(close.code, closeCode, `close frame code ${note}`);
  assert.ok(Buffer.byteLength(close.reason) <= 123);
  assert.ok(log.ended(), `transport ended ${note}`);
  assert.ok(conn.closeExpected);
  assert.equal(conn.readyState, ReadyState.Closing);
}

/** Feed chunks to a connection in order. */
export function feed(conn: Connection, chunks: readonly Buffer[]): void {
  for (const chunk of chunks) conn.receiveData(chunk);
}
