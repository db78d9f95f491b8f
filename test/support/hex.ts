/**
 * Hex fixtures: `hex('81 05 48 65 6c 6c 6f')` reads bytes written the way RFC 6455 section 5.7 writes
 * them (spaces, commas and `0x` prefixes are ignored); `toHex` prints bytes back in the same style.
 */
export function hex(text: string): Buffer {
  const clean = text.replace(/0x/gi, '').replace(/[\s,]+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(clean)) throw new Error(`not a hex fixture: ${text}`);
  return Buffer.from(clean, 'hex');
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
}
