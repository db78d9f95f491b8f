/**
 * permessage-deflate negotiation (RFC 7692 section 7.1), both roles, sans-I/O. The compression itself
 * is an async pipeline stage outside the core; this module only decides what was agreed.
 *
 * Window sizes: zlib cannot produce a raw DEFLATE stream limited to a 256-byte window (it silently
 * uses 512), so this endpoint never agrees to *compress* with 8 window bits. A server declines such an
 * offer (and takes the next); a client fails the connection if a server demands it. Inflating is
 * always possible: a 15-bit inflater reads streams made with any smaller window.
 */
import type { Extension } from './extensions.js';

export const EXTENSION_NAME = 'permessage-deflate';

/** What this endpoint asks for (client) or imposes and allows (server). */
export interface DeflateConfig {
  /** The server resets its compression context after every message (the "shared" memory mode). */
  serverNoContextTakeover?: boolean;
  /** The client resets its compression context after every message. */
  clientNoContextTakeover?: boolean;
  /** Largest LZ77 window, in bits (9-15), the server compresses with. */
  serverMaxWindowBits?: number;
  /** Largest window (9-15) the client compresses with; a client offers the parameter in any case. */
  clientMaxWindowBits?: number;
}

/** The parameters both sides use after a successful negotiation. */
export interface DeflateAgreement {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  /** Window the server compresses with (and the client must be able to inflate). */
  readonly serverMaxWindowBits: number;
  /** Window the client compresses with. */
  readonly clientMaxWindowBits: number;
}

interface Params {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: the parameter without a value. */
  clientMaxWindowBits: number | true | undefined;
}

/** Section 7.1.2: "a decimal integer value without leading zeroes between 8 and 15, inclusive". */
function windowBits(value: string | true): number | null {
  if (value === true || !/^(8|9|1[0-5])$/.test(value)) return null;
  return Number(value);
}

/**
 * Read the parameters of one element, or null when it must be declined (offer) or refused
 * (response): an unknown parameter, a repeated one, or an invalid value (section 7, 7.1.1, 7.1.2).
 */
function readParams(ext: Extension): Params | null {
  const p: Params = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of ext.paramList) {
    if (seen.has(name)) return null;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
        if (value !== true) return null;
        p.serverNoContextTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (value !== true) return null;
        p.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = windowBits(value);
        if (bits === null) return null;
        p.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        if (value === true) {
          p.clientMaxWindowBits = true;
          break;
        }
        const bits = windowBits(value);
        if (bits === null) return null;
        p.clientMaxWindowBits = bits;
        break;
      }
      default:
        return null;
    }
  }
  return p;
}

function format(a: DeflateAgreement, include: { serverBits: boolean; clientBits: boolean }): string {
  let out = EXTENSION_NAME;
  if (a.serverNoContextTakeover) out += '; server_no_context_takeover';
  if (a.clientNoContextTakeover) out += '; client_no_context_takeover';
  if (include.serverBits) out += `; server_max_window_bits=${a.serverMaxWindowBits}`;
  if (include.clientBits) out += `; client_max_window_bits=${a.clientMaxWindowBits}`;
  return out;
}

// -----------------------------------------------------------------------------------------------
// Server role

/**
 * Pick the first permessage-deflate offer this server can honour (section 7.1: offers come in the
 * client's order of preference; one that cannot be honoured is declined and the next is tried).
 * Returns the agreement and the response element, or null when every offer was declined.
 */
export function negotiateAsServer(
  offers: readonly Extension[],
  config: DeflateConfig = {},
): { agreement: DeflateAgreement; response: string } | null {
  const ownWindow = config.serverMaxWindowBits ?? 15;
  for (const offer of offers) {
    if (offer.name !== EXTENSION_NAME) continue;
    const p = readParams(offer);
    if (p === null) continue;
    // Section 7.1.2.1: answer with a window no larger than the one the client offered.
    const serverBits = Math.min(ownWindow, p.serverMaxWindowBits ?? 15);
    if (serverBits < 9) continue; // zlib cannot honour an 8-bit window
    // Section 7.1.2.2: client_max_window_bits may be answered only when offered, with a value no
    // larger than an offered one. Without it, the client may use a 15-bit window.
    let clientBits = 15;
    let includeClientBits = false;
    if (p.clientMaxWindowBits !== undefined) {
      const offered = p.clientMaxWindowBits === true ? 15 : p.clientMaxWindowBits;
      clientBits = Math.min(offered, config.clientMaxWindowBits ?? 15);
      includeClientBits = config.clientMaxWindowBits !== undefined || p.clientMaxWindowBits !== true;
    }
    const agreement: DeflateAgreement = {
      // Section 7.1.1.1: an offered server_no_context_takeover MUST be answered; the server may also
      // impose it on itself.
      serverNoContextTakeover: p.serverNoContextTakeover || config.serverNoContextTakeover === true,
      // Section 7.1.1.2: the server may ask the client not to take over context in any case.
      clientNoContextTakeover: p.clientNoContextTakeover || config.clientNoContextTakeover === true,
      serverMaxWindowBits: serverBits,
      clientMaxWindowBits: clientBits,
    };
    const response = format(agreement, {
      serverBits: p.serverMaxWindowBits !== undefined || serverBits < 15,
      clientBits: includeClientBits,
    });
    return { agreement, response };
  }
  return null;
}

// -----------------------------------------------------------------------------------------------
// Client role

/** The offer a client sends: its configuration, and client_max_window_bits so servers may limit it. */
export function buildOffer(config: DeflateConfig = {}): string {
  let out = EXTENSION_NAME;
  if (config.serverNoContextTakeover) out += '; server_no_context_takeover';
  if (config.clientNoContextTakeover) out += '; client_no_context_takeover';
  if (config.serverMaxWindowBits !== undefined)
    out += `; server_max_window_bits=${config.serverMaxWindowBits}`;
  out +=
    config.clientMaxWindowBits !== undefined
      ? `; client_max_window_bits=${config.clientMaxWindowBits}`
      : '; client_max_window_bits';
  return out;
}

export class DeflateNegotiationError extends Error {
  override readonly name = 'DeflateNegotiationError';
}

/**
 * Validate the server's response element against the offer made with `config` (section 7.1: the
 * client MUST fail the connection on a response it did not allow). Throws DeflateNegotiationError.
 */
export function acceptResponse(response: Extension, config: DeflateConfig = {}): DeflateAgreement {
  if (response.name !== EXTENSION_NAME)
    throw new DeflateNegotiationError(`unexpected extension ${response.name}`);
  const p = readParams(response);
  if (p === null) throw new DeflateNegotiationError('invalid permessage-deflate parameters in the response');
  // 7.1.1.1: an offered server_no_context_takeover must come back.
  if (config.serverNoContextTakeover && !p.serverNoContextTakeover) {
    throw new DeflateNegotiationError('the server ignored server_no_context_takeover');
  }
  // 7.1.2.1: the server's window may be announced in any case, but not above what was offered.
  if (config.serverMaxWindowBits !== undefined) {
    if (p.serverMaxWindowBits === undefined || p.serverMaxWindowBits > config.serverMaxWindowBits) {
      throw new DeflateNegotiationError('server_max_window_bits missing or above the offered value');
    }
  }
  // 7.1.2.2: client_max_window_bits must have a value in a response, no larger than an offered one.
  let clientBits = config.clientMaxWindowBits ?? 15;
  if (p.clientMaxWindowBits !== undefined) {
    if (p.clientMaxWindowBits === true)
      throw new DeflateNegotiationError('client_max_window_bits without a value');
    if (p.clientMaxWindowBits > clientBits) {
      throw new DeflateNegotiationError('client_max_window_bits above the offered value');
    }
    clientBits = p.clientMaxWindowBits;
  }
  if (clientBits < 9) throw new DeflateNegotiationError('cannot compress with an 8-bit window (zlib limit)');
  return {
    serverNoContextTakeover: p.serverNoContextTakeover,
    clientNoContextTakeover: p.clientNoContextTakeover || config.clientNoContextTakeover === true,
    serverMaxWindowBits: p.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: clientBits,
  };
}
