import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isControlOpcode, isKnownOpcode, opcodeName } from '../../../src/protocol/ws/opcodes.js';

describe('opcodes (RFC 6455 section 5.2)', () => {
  it('knows 0x0-0x2 and 0x8-0xA and treats 0x3-0x7 and 0xB-0xF as reserved', () => {
    const known = [0, 1, 2, 8, 9, 10];
    for (let op = 0; op < 16; op++) assert.equal(isKnownOpcode(op), known.includes(op), `opcode ${op}`);
  });

  it('classifies 0x8-0xF as control opcodes (most significant bit set)', () => {
    for (let op = 0; op < 16; op++) assert.equal(isControlOpcode(op), op >= 8, `opcode ${op}`);
  });

  it('names opcodes for frame inspectors', () => {
    assert.deepEqual([0, 1, 2, 8, 9, 10, 3, 0xb].map(opcodeName), [
      'continuation',
      'text',
      'binary',
      'close',
      'ping',
      'pong',
      'reserved(0x3)',
      'reserved(0xb)',
    ]);
  });
});
