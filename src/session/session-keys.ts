/**
 * Session keys: what a client shows to resume its session, post to it or poll it. A session's id is
 * public (it is in every `message.from` and presence member, for everyone on the channel to see), so
 * it is never enough: the key is `<id>.<mac>`, the MAC an HMAC-SHA-256 of the id under the hub's
 * secret (128 bits kept, base64url). Only the session's client gets it (in `connected`). Any node
 * with the same secret checks a key without storing anything: with Redis the nodes agree on one
 * secret through Redis (server/hub-mesh.ts).
 *
 * A value without a '.' is an id as clients of protocol version 1 sent it: `isLegacy` tells the
 * transports to refuse it with a clear error rather than take it as a key.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const MAC_CHARS = 22; // 128 bits of base64url

export class SessionKeys {
  private secret: Buffer;

  constructor(secret?: Uint8Array | string) {
    this.secret = secret === undefined ? randomBytes(32) : toSecret(secret);
  }

  /** Use another secret (the one the nodes share); keys made before no longer verify. */
  use(secret: Uint8Array | string): void {
    this.secret = toSecret(secret);
  }

  /** The key of session `id`: only its client is told. */
  keyFor(id: string): string {
    return `${id}.${this.mac(id)}`;
  }

  /** The session id a key names, if its MAC is right; null otherwise (forged, or another secret's). */
  idOf(key: string): string | null {
    const dot = key.lastIndexOf('.');
    if (dot <= 0 || key.length - dot - 1 !== MAC_CHARS) return null;
    const id = key.slice(0, dot);
    const given = Buffer.from(key.slice(dot + 1));
    const expected = Buffer.from(this.mac(id));
    return given.length === expected.length && timingSafeEqual(given, expected) ? id : null;
  }

  /** A bare session id, as protocol version 1 clients sent to resume: refused (they must update). */
  static isLegacy(value: string): boolean {
    return !value.includes('.');
  }

  private mac(id: string): string {
    return createHmac('sha256', this.secret).update(id).digest('base64url').slice(0, MAC_CHARS);
  }
}

function toSecret(secret: Uint8Array | string): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (bytes.length < 16) throw new RangeError('a session secret needs at least 16 bytes');
  return bytes;
}
