/**
 * permessage-deflate (RFC 7692) for the conformance peer, written from the RFC and independent of
 * Conduit's own negotiation and compression code (only node:zlib is shared):
 *
 * - a Sec-WebSocket-Extensions parser (RFC 6455 section 9.1 grammar, quoted values unescaped);
 * - the rules of section 7 and 7.1.x: which offers a server must decline, which responses a client must
 *   refuse, and what a legal response means for each direction (the "agreed parameters");
 * - `PeerDeflate`, the compressor and the checking decompressor of one connection.
 *
 * Compression is synchronous and stateless per message: with context takeover, the previous messages'
 * plaintext is handed to zlib as a preset dictionary, which is exactly the LZ77 window a streaming
 * compressor would hold (section 7.2.1 ends every message on a byte boundary with a sync flush). This
 * also lets a message end with a BFINAL=1 block (section 7.2.3.4) and the next one refer back anyway.
 *
 * Decompression checks the other end kept to the agreement: with no context takeover each message is
 * inflated with an empty window (a back-reference into an earlier message fails); with context takeover
 * the window holds exactly the last 2^bits bytes; below 15 bits zlib's output is drained in small chunks,
 * so a distance beyond the agreed window fails too (zlib accepts up to window + one output chunk: the
 * slack is 1/8 of the window, at least 64 bytes; zlib's own compressor stays 262 bytes inside it).
 */
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';

export const PMD = 'permessage-deflate';

export type ParamValue = string | true;

export interface ExtElement {
  name: string;
  /** In order, duplicates kept; `true` for a parameter without a value. Quoted values are unescaped. */
  params: Array<[string, ParamValue]>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parse a Sec-WebSocket-Extensions value; throws on anything outside the RFC 6455 9.1 grammar. */
export function parseExtensions(header: string): ExtElement[] {
  const out: ExtElement[] = [];
  let at = 0;
  const ws = () => {
    while (at < header.length && (header[at] === ' ' || header[at] === '\t')) at++;
  };
  const token = (what: string): string => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(header.slice(at));
    if (m === null) throw new Error(`expected ${what} at offset ${at} of "${header}"`);
    at += m[0].length;
    return m[0];
  };
  for (;;) {
    ws();
    if (at < header.length && header[at] === ',') {
      at++;
      continue;
    }
    if (at >= header.length) break;
    const element: ExtElement = { name: token('an extension name'), params: [] };
    ws();
    while (at < header.length && header[at] === ';') {
      at++;
      ws();
      const key = token('a parameter name');
      ws();
      let value: ParamValue = true;
      if (header[at] === '=') {
        at++;
        ws();
        if (header[at] === '"') {
          at++;
          let v = '';
          for (;;) {
            if (at >= header.length) throw new Error(`unterminated quoted-string in "${header}"`);
            const c = header[at++]!;
            if (c === '"') break;
            v += c === '\\' ? (header[at++] ?? '') : c;
          }
          if (!TOKEN.test(v)) throw new Error(`quoted value "${v}" is not a token`);
          value = v;
        } else {
          value = token(`a value for ${key}`);
        }
        ws();
      }
      element.params.push([key, value]);
    }
    out.push(element);
    if (at >= header.length) break;
    if (header[at] !== ',') throw new Error(`unexpected "${header[at]}" at offset ${at} of "${header}"`);
    at++;
  }
  return out;
}

export function formatElement(e: ExtElement): string {
  return [e.name, ...e.params.map(([k, v]) => (v === true ? k : `${k}=${v}`))].join('; ');
}

/** What both ends use after a successful negotiation (RFC 7692 section 7.1, "agreed parameters"). */
export interface Agreement {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** The window the server compresses with (8-15). */
  serverMaxWindowBits: number;
  /** The window the client compresses with (8-15): the response's value, or the offer's hint, or 15. */
  clientMaxWindowBits: number;
}

/** Section 7.1.2: "a decimal integer value without leading zeroes between 8 and 15, inclusive". */
function windowBits(v: ParamValue): number | null {
  return v !== true && /^(8|9|1[0-5])$/.test(v) ? Number(v) : null;
}

interface Params {
  server_no_context_takeover?: true;
  client_no_context_takeover?: true;
  server_max_window_bits?: number;
  /** `true`: offered without a value. */
  client_max_window_bits?: number | true;
}

/** Read an element's parameters; `inResponse` applies the response rules. Returns a problem or params. */
function readParams(e: ExtElement, inResponse: boolean): { params: Params } | { problem: string } {
  const p: Params = {};
  const seen = new Set<string>();
  for (const [key, value] of e.params) {
    if (seen.has(key)) return { problem: `parameter ${key} appears twice (RFC 7692 section 7)` };
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return { problem: `${key} has a value (section 7.1.1: it has none)` };
        p[key] = true;
        break;
      case 'server_max_window_bits': {
        const bits = windowBits(value);
        if (bits === null) return { problem: `invalid server_max_window_bits ${String(value)} (7.1.2.1)` };
        p.server_max_window_bits = bits;
        break;
      }
      case 'client_max_window_bits': {
        if (value === true && !inResponse) {
          p.client_max_window_bits = true;
          break;
        }
        const bits = windowBits(value);
        if (bits === null) return { problem: `invalid client_max_window_bits ${String(value)} (7.1.2.2)` };
        p.client_max_window_bits = bits;
        break;
      }
      default:
        return { problem: `unknown parameter ${key} (RFC 7692 section 7)` };
    }
  }
  return { params: p };
}

/** Why a server must decline this offer element (RFC 7692 section 7), or null for a valid offer. */
export function offerProblem(offer: ExtElement): string | null {
  if (offer.name !== PMD) return `not ${PMD}`;
  const r = readParams(offer, false);
  return 'problem' in r ? r.problem : null;
}

/**
 * Judge a server's response element against the offer element it accepts, by the client's rules (RFC
 * 7692 section 7: "a client MUST _Fail the WebSocket Connection_ if..." and 7.1.1.1, 7.1.2.1, 7.1.2.2).
 */
export function judgeResponse(
  offer: ExtElement,
  response: ExtElement,
): { agreement: Agreement } | { problem: string } {
  if (response.name !== PMD) return { problem: `the response names ${response.name}, not ${PMD}` };
  const o = readParams(offer, false);
  if ('problem' in o) return { problem: `it accepts an invalid offer: ${o.problem}` };
  const r = readParams(response, true);
  if ('problem' in r) return r;
  const offered = o.params;
  const got = r.params;
  if (offered.server_no_context_takeover && !got.server_no_context_takeover)
    return { problem: 'server_no_context_takeover was offered and is missing (7.1.1.1)' };
  if (offered.server_max_window_bits !== undefined) {
    if (got.server_max_window_bits === undefined)
      return { problem: 'server_max_window_bits was offered and is missing (7.1.2.1)' };
    if (got.server_max_window_bits > offered.server_max_window_bits)
      return {
        problem: `server_max_window_bits=${got.server_max_window_bits} above the offered value (7.1.2.1)`,
      };
  }
  const clientOffer = offered.client_max_window_bits;
  const clientGot = got.client_max_window_bits;
  if (clientGot !== undefined) {
    if (clientOffer === undefined)
      return { problem: 'client_max_window_bits in the response but not in the offer (7.1.2.2)' };
    if (clientOffer !== true && (clientGot as number) > clientOffer)
      return { problem: `client_max_window_bits=${clientGot} above the offered value (7.1.2.2)` };
  }
  const hint = typeof clientOffer === 'number' ? clientOffer : 15;
  return {
    agreement: {
      serverNoContextTakeover: got.server_no_context_takeover === true,
      clientNoContextTakeover: got.client_no_context_takeover === true,
      serverMaxWindowBits: got.server_max_window_bits ?? 15,
      clientMaxWindowBits: Math.min(typeof clientGot === 'number' ? clientGot : 15, hint),
    },
  };
}

/** The outcome of the opening handshake's extension negotiation, as the peer saw it. */
export interface Negotiation {
  /** Sec-WebSocket-Extensions of the request (the offers), or null. */
  offer: string | null;
  /** Sec-WebSocket-Extensions of the 101 response, or null. */
  response: string | null;
  /** Agreed parameters, or null when no permessage-deflate was agreed (declined or refused). */
  agreement: Agreement | null;
  /** 1-based position of the offer the response accepts, or 0. */
  acceptedOffer: number;
  /** What is wrong with the negotiation (the client must fail the connection), or null. */
  problem: string | null;
}

/**
 * Judge a whole negotiation: the request's offers against the response. The response must accept one
 * valid offer with a legal response (the first it is legal for is taken); an extension that was not
 * offered, or more than one element, is refused (RFC 6455 sections 4.1 and 9.1).
 */
export function judgeNegotiation(offer: string | null, response: string | null): Negotiation {
  const n: Negotiation = { offer, response, agreement: null, acceptedOffer: 0, problem: null };
  if (response === null || response.trim() === '') return n;
  let offers: ExtElement[];
  let answers: ExtElement[];
  try {
    offers = offer === null ? [] : parseExtensions(offer);
    answers = parseExtensions(response);
  } catch (error) {
    n.problem = `unparsable extensions: ${(error as Error).message}`;
    return n;
  }
  if (answers.length !== 1) {
    n.problem = `the response has ${answers.length} extension elements for one offered extension`;
    return n;
  }
  const answer = answers[0]!;
  const candidates = offers.filter((o) => o.name === answer.name);
  if (candidates.length === 0) {
    n.problem = `the response names ${answer.name}, which was not offered (RFC 6455 section 4.1)`;
    return n;
  }
  let firstProblem: string | null = null;
  for (const [i, o] of offers.entries()) {
    if (o.name !== answer.name) continue;
    const j = judgeResponse(o, answer);
    if ('agreement' in j) {
      n.agreement = j.agreement;
      n.acceptedOffer = i + 1;
      return n;
    }
    firstProblem ??= j.problem;
  }
  n.problem = firstProblem;
  return n;
}

/** The smallest legal response to an offer element: its required parameters, nothing else. */
export function minimalResponse(offer: ExtElement | null): ExtElement {
  const params: Array<[string, ParamValue]> = [];
  for (const [key, value] of offer?.params ?? []) {
    if (key === 'server_no_context_takeover') params.push([key, true]);
    if (key === 'server_max_window_bits') params.push([key, value]);
  }
  return { name: PMD, params };
}

/** The first permessage-deflate element of a request's Sec-WebSocket-Extensions, or null. */
export function firstDeflateOffer(offer: string | null): ExtElement | null {
  if (offer === null) return null;
  try {
    return parseExtensions(offer).find((e) => e.name === PMD) ?? null;
  } catch {
    return null;
  }
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const MAX_WINDOW = 32 * 1024;

function lastBytes(history: Buffer, n: number): Buffer {
  return history.length <= n ? history : history.subarray(history.length - n);
}

function appendHistory(history: Buffer, data: Buffer): Buffer {
  if (data.length >= MAX_WINDOW) return Buffer.from(data.subarray(data.length - MAX_WINDOW));
  const keep = lastBytes(history, MAX_WINDOW - data.length);
  return Buffer.concat([keep, data]);
}

export interface CompressOptions {
  /** End the message with a BFINAL=1 block (section 7.2.3.4) instead of a sync flush. */
  bfinal?: boolean;
  /** Compress without referring to earlier messages even when context takeover is allowed. */
  fresh?: boolean;
}

export interface DeflateStats {
  /** Compressed messages we sent and received; uncompressed messages received. */
  sent: number;
  received: number;
  receivedPlain: number;
}

/**
 * The compression state of one connection, for the peer in `role` ('client' when testing a server).
 * Our direction uses our side's agreed parameters, the other direction the other side's.
 */
export class PeerDeflate {
  readonly stats: DeflateStats = { sent: 0, received: 0, receivedPlain: 0 };
  readonly sendBits: number;
  readonly sendNoContextTakeover: boolean;
  readonly receiveBits: number;
  readonly receiveNoContextTakeover: boolean;
  private sendHistory: Buffer = Buffer.alloc(0);
  private receiveHistory: Buffer = Buffer.alloc(0);

  constructor(
    readonly agreement: Agreement,
    role: 'client' | 'server',
    /** We offered client_no_context_takeover (a client's hint: we keep to it). */
    ownHintNoContextTakeover = false,
  ) {
    const a = agreement;
    if (role === 'client') {
      this.sendBits = a.clientMaxWindowBits;
      this.sendNoContextTakeover = a.clientNoContextTakeover || ownHintNoContextTakeover;
      this.receiveBits = a.serverMaxWindowBits;
      this.receiveNoContextTakeover = a.serverNoContextTakeover;
    } else {
      this.sendBits = a.serverMaxWindowBits;
      this.sendNoContextTakeover = a.serverNoContextTakeover;
      this.receiveBits = a.clientMaxWindowBits;
      this.receiveNoContextTakeover = a.clientNoContextTakeover;
    }
  }

  /** Whether our next message may refer back to earlier ones. */
  get contextTakeover(): boolean {
    return !this.sendNoContextTakeover;
  }

  /**
   * Compress one message (section 7.2.1): DEFLATE with a sync flush and the 00 00 ff ff tail removed,
   * or with `bfinal` a final block followed by the 0x00 left of the empty stored block.
   */
  compress(data: Buffer, options: CompressOptions = {}): Buffer {
    const window = 2 ** this.sendBits;
    const useHistory = this.contextTakeover && options.fresh !== true && this.sendHistory.length > 0;
    // zlib turns a raw 8-bit window into 9 bits, and never emits a distance beyond 2^bits - 262 (250
    // for 9): the stream stays within a 256-byte window.
    const out = deflateRawSync(data, {
      windowBits: this.sendBits,
      level: 6,
      memLevel: 8,
      chunkSize: Math.min(64 * 1024, Math.max(1024, data.length + 64)),
      finishFlush: options.bfinal === true ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
      ...(useHistory ? { dictionary: lastBytes(this.sendHistory, window) } : {}),
    });
    let payload: Buffer;
    if (options.bfinal === true) {
      payload = Buffer.concat([out, Buffer.from([0x00])]);
    } else {
      if (out.length < 4 || !out.subarray(out.length - 4).equals(TAIL))
        throw new Error('zlib sync flush did not end with 00 00 ff ff');
      payload = out.subarray(0, out.length - 4);
    }
    if (this.contextTakeover) this.sendHistory = appendHistory(this.sendHistory, data);
    this.stats.sent++;
    return payload;
  }

  /** Forget what was sent (after a message compressed `fresh`, the window still holds it: keep it). */
  resetSendHistory(): void {
    this.sendHistory = Buffer.alloc(0);
  }

  /**
   * Decompress one message from the endpoint under test (section 7.2.2), checking it kept to the agreed
   * window and context takeover. Throws with a readable reason.
   */
  inflate(payload: Buffer, maxOutput: number): Buffer {
    const bits = this.receiveBits;
    const window = 2 ** bits;
    const dictionary =
      this.receiveNoContextTakeover || this.receiveHistory.length === 0
        ? undefined
        : lastBytes(this.receiveHistory, window);
    let out: Buffer;
    try {
      out = inflateRawSync(Buffer.concat([payload, TAIL]), {
        windowBits: bits,
        finishFlush: constants.Z_SYNC_FLUSH,
        chunkSize: bits < 15 ? Math.max(64, window / 8) : 16 * 1024,
        maxOutputLength: maxOutput,
        ...(dictionary === undefined ? {} : { dictionary }),
      });
    } catch (error) {
      const reason = (error as Error).message;
      const hint = /too far back/.test(reason)
        ? this.receiveNoContextTakeover
          ? ' (a back-reference into an earlier message although no context takeover was agreed)'
          : ` (a back-reference beyond the agreed ${bits}-bit window)`
        : '';
      throw new Error(`compressed message that does not inflate: ${reason}${hint}`);
    }
    if (!this.receiveNoContextTakeover) this.receiveHistory = appendHistory(this.receiveHistory, out);
    this.stats.received++;
    return out;
  }
}
