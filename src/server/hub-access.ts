/**
 * Who may talk to the hub, the same on every transport: an Origin allow-list (browsers send Origin;
 * a page from another site gets 403) and signed tokens (HS256 JWTs verified with `jose`) carrying the
 * user (`sub`) and the channels allowed (`channels`, patterns like 'chat.*').
 *
 * A token comes in the `token` query parameter (browsers cannot set headers on a WebSocket or an
 * EventSource) or an `Authorization: Bearer` header. With a secret configured, a request without a
 * valid token is refused (TOKEN_INVALID); without one, every client is anonymous and unrestricted
 * (the `authorize` hook of the hub can still refuse actions).
 */
import { errors, jwtVerify } from 'jose';
import type { HubIdentity } from '../session/hub.js';

export interface HubAccessOptions {
  /**
   * Allowed Origin values (exact, e.g. 'https://app.example.com'). A request with another Origin gets
   * 403; requests without one (not from a browser) are allowed. Default: any origin.
   */
  origins?: readonly string[];
  /** HS256 secret (at least 32 bytes): tokens are verified with it, and required unless `allowAnonymous`. */
  tokenSecret?: string | Uint8Array;
  /** With a secret: clients without a token are let in as anonymous (a bad token is still refused). */
  allowAnonymous?: boolean;
  /** Required `aud` claim, if set. */
  tokenAudience?: string;
  /** Required `iss` claim, if set. */
  tokenIssuer?: string;
  /** Clock skew tolerated on `exp` and `nbf`, seconds. Default 5. */
  clockToleranceSec?: number;
}

/** Why a token was refused (the message goes to the client with TOKEN_INVALID). */
export class TokenError extends Error {
  override readonly name = 'TokenError';
}

const ANONYMOUS: HubIdentity = { user: null, channels: null };

export class HubAccess {
  private readonly origins: ReadonlySet<string> | null;
  private readonly secret: Uint8Array | null;

  constructor(private readonly options: HubAccessOptions = {}) {
    this.origins = options.origins === undefined ? null : new Set(options.origins);
    const secret = options.tokenSecret;
    this.secret = secret === undefined ? null : typeof secret === 'string' ? Buffer.from(secret) : secret;
    if (this.secret !== null && this.secret.length < 32) {
      throw new RangeError('tokenSecret: HS256 needs at least 32 bytes of secret');
    }
  }

  /** Whether a request with this Origin header (or none) may use the hub. */
  originAllowed(origin: string | string[] | undefined): boolean {
    if (this.origins === null || origin === undefined) return true;
    return typeof origin === 'string' && this.origins.has(origin);
  }

  /** The identity a request carries: from its token, or anonymous when tokens are not required. */
  async identify(url: URL, authorization: string | undefined): Promise<HubIdentity> {
    if (this.secret === null) return ANONYMOUS;
    const token = tokenOf(url, authorization);
    if (token === null && this.options.allowAnonymous === true) return ANONYMOUS;
    if (token === null) throw new TokenError('a token is required (token query parameter or Bearer header)');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.secret, {
        algorithms: ['HS256'],
        audience: this.options.tokenAudience,
        issuer: this.options.tokenIssuer,
        clockTolerance: this.options.clockToleranceSec ?? 5,
      }));
    } catch (error) {
      throw new TokenError(describe(error));
    }
    const user = payload.sub;
    if (typeof user !== 'string' || user.length === 0) throw new TokenError('the token has no sub (user)');
    const channels = payload.channels;
    if (channels === undefined) return { user, channels: null };
    if (!Array.isArray(channels) || !channels.every((c) => typeof c === 'string')) {
      throw new TokenError('the token claim channels must be an array of strings');
    }
    return { user, channels };
  }
}

function tokenOf(url: URL, authorization: string | undefined): string | null {
  const query = url.searchParams.get('token');
  if (query !== null && query !== '') return query;
  if (authorization !== undefined && /^bearer /i.test(authorization)) {
    const token = authorization.slice(7).trim();
    if (token !== '') return token;
  }
  return null;
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature is not valid';
  if (error instanceof errors.JWTClaimValidationFailed) return `the token claim ${error.claim} is not valid`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token must be signed with HS256';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid)
    return 'the token is malformed';
  return 'the token is not valid';
}
