/**
 * permessage-deflate for one connection: the user's options turned into what to negotiate, and the
 * agreement turned into a deflater for what we send and an inflater for what we receive, each created
 * on first use (an idle socket holds neither).
 */
import type { DeflateAgreement, DeflateConfig } from '../protocol/ws/permessage-deflate.js';
import { DEFAULT_SYNC_LIMIT, MessageDeflater } from './deflater.js';
import { MessageInflater } from './inflater.js';

/**
 * How this endpoint compresses. The two memory modes:
 * - `'shared'`: no context takeover in either direction (the server asks the client for
 *   client_no_context_takeover too). Every message is compressed and inflated on its own, so a
 *   connection keeps no zlib state at all between messages: idle sockets cost nothing, and a
 *   broadcast compresses once for every shared-mode client. Repetitive streams compress less well.
 * - `'dedicated'`: context takeover with the chosen windows. Each connection keeps a deflate stream
 *   (about 2^(windowBits+2) + 2^(memLevel+9) bytes: 256 KiB at the defaults) and an inflate stream
 *   (about 2^windowBits + 7 KiB) once it has sent and received a compressed message. Best ratio.
 */
export type DeflateMode = 'shared' | 'dedicated';

/** How messages under the threshold are sent: see `PerMessageDeflateOptions.shortMessages`. */
export type ShortMessages = 'stored' | 'plain';

export interface PerMessageDeflateOptions {
  /** Default 'shared' for servers, 'dedicated' for clients. */
  mode?: DeflateMode;
  /**
   * Messages shorter than this many bytes are not run through zlib; `shortMessages` says how they go.
   * Default: 1024 when our side resets its context after every message (shared mode, or a peer that
   * asked for our no_context_takeover): deflating a short message on its own saves nothing and costs
   * ~23 us of CPU. 0 with context takeover (every message deflated, as ws does): a short message
   * compresses well against the ones before it (a 21-byte echo: 6 bytes on the wire instead of 23)
   * but each goes through the thread pool (~51 us of server CPU per echo instead of ~4; ws: ~75), and
   * a stored block is not possible there (see `shortMessages`). A threshold of 1024 with context
   * takeover gives the cheap path back, and clients such as libwebsockets then hang.
   */
  threshold?: number;
  /**
   * How messages under `threshold` go out, when our side resets its context after every message:
   * - `'stored'` (default): flagged compressed (RSV1) and carried as they are in a DEFLATE block with
   *   no compression (RFC 7692 section 7.2.3.3). Costs us a copy and 6 bytes on the wire per message
   *   (a 21-byte echo: +0.1-0.2 us of server CPU, where deflating it would add ~23 us), and the peer
   *   runs its inflater on each (~5-7 us with zlib, as ws and browsers do; 0.1 us for Conduit, which
   *   reads stored blocks itself). Clients that assume every message is compressed once
   *   permessage-deflate is agreed work: libwebsockets up to at least 4.3 (its client loops forever
   *   on an uncompressed message, its issue #2794), older Java-WebSocket.
   * - `'plain'`: sent uncompressed with RSV1 clear, which RFC 7692 section 6 allows: the cheapest for
   *   both sides (a ws or browser peer skips its inflater), what ws does without context takeover, but
   *   those clients hang on the first one. Choose it when you know your peers.
   * With context takeover on our side, messages under an explicit `threshold` are always plain: a
   * stored block would put bytes in the peer's window that our deflater never saw, and its later
   * back-references would point at the wrong bytes. Fragments (`fin: false`) and messages sent with
   * `compress: false` are plain in every case.
   * BENCHMARKS.md ("Short messages under permessage-deflate") has the measured cost of each choice.
   */
  shortMessages?: ShortMessages;
  /** zlib level, 0-9. Default 6 (zlib's default). */
  level?: number;
  /** zlib memLevel, 1-9. Default 8. */
  memLevel?: number;
  /** The server's largest compression window (9-15 bits). Default 15. */
  serverMaxWindowBits?: number;
  /** The client's largest compression window (9-15 bits). Default 15. */
  clientMaxWindowBits?: number;
  /**
   * In shared mode, messages up to this many bytes are compressed synchronously (faster than a
   * thread-pool round trip), and received messages up to an eighth of it inflated synchronously.
   * Default 64 KiB.
   */
  syncLimit?: number;
}

export const DEFAULT_THRESHOLD = 1024;

function checkWindow(name: string, bits: number | undefined): void {
  if (bits !== undefined && (!Number.isInteger(bits) || bits < 9 || bits > 15)) {
    throw new RangeError(`${name} must be an integer from 9 to 15 (zlib cannot compress with 8)`);
  }
}

/** Validate options early (at server or client creation), with a clear error. */
export function checkDeflateOptions(options: PerMessageDeflateOptions): void {
  if (options.mode !== undefined && options.mode !== 'shared' && options.mode !== 'dedicated') {
    throw new TypeError("perMessageDeflate.mode must be 'shared' or 'dedicated'");
  }
  if (
    options.shortMessages !== undefined &&
    options.shortMessages !== 'stored' &&
    options.shortMessages !== 'plain'
  ) {
    throw new TypeError("perMessageDeflate.shortMessages must be 'stored' or 'plain'");
  }
  checkWindow('serverMaxWindowBits', options.serverMaxWindowBits);
  checkWindow('clientMaxWindowBits', options.clientMaxWindowBits);
  const { level, memLevel, threshold, syncLimit } = options;
  if (level !== undefined && (!Number.isInteger(level) || level < 0 || level > 9))
    throw new RangeError('perMessageDeflate.level must be an integer from 0 to 9');
  if (memLevel !== undefined && (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9))
    throw new RangeError('perMessageDeflate.memLevel must be an integer from 1 to 9');
  if (threshold !== undefined && !(threshold >= 0))
    throw new RangeError('perMessageDeflate.threshold must be >= 0');
  if (syncLimit !== undefined && !(syncLimit >= 0))
    throw new RangeError('perMessageDeflate.syncLimit must be >= 0');
}

/** What a server imposes and allows, for `negotiateAsServer`. */
export function serverDeflateConfig(options: PerMessageDeflateOptions): DeflateConfig {
  const shared = (options.mode ?? 'shared') === 'shared';
  return {
    serverNoContextTakeover: shared,
    clientNoContextTakeover: shared,
    serverMaxWindowBits: options.serverMaxWindowBits,
    clientMaxWindowBits: options.clientMaxWindowBits,
  };
}

/** What a client offers, for `buildOffer` and `acceptResponse`. */
export function clientDeflateConfig(options: PerMessageDeflateOptions): DeflateConfig {
  return {
    clientNoContextTakeover: (options.mode ?? 'dedicated') === 'shared',
    serverMaxWindowBits: options.serverMaxWindowBits,
    clientMaxWindowBits: options.clientMaxWindowBits,
  };
}

/** The compression state of one connection. */
export class DeflateCodec {
  /** Messages this long or longer are compressed (the option, or its default for the agreement). */
  readonly threshold: number;
  /** Shorter messages go as stored blocks (RSV1 set, no zlib) rather than plain. */
  readonly storesShortMessages: boolean;
  private deflaterInstance: MessageDeflater | null = null;
  private inflaterInstance: MessageInflater | null = null;
  private closed = false;

  constructor(
    readonly agreement: DeflateAgreement,
    private readonly role: 'client' | 'server',
    private readonly options: PerMessageDeflateOptions,
    private readonly maxPayload: number,
  ) {
    const ourNoContextTakeover =
      role === 'server' ? agreement.serverNoContextTakeover : agreement.clientNoContextTakeover;
    this.threshold = options.threshold ?? (ourNoContextTakeover ? DEFAULT_THRESHOLD : 0);
    this.storesShortMessages = ourNoContextTakeover && (options.shortMessages ?? 'stored') === 'stored';
  }

  /** The deflater for what we send, created on first use. */
  get deflater(): MessageDeflater {
    let d = this.deflaterInstance;
    if (d === null) {
      const a = this.agreement;
      const ours = this.role === 'server';
      d = new MessageDeflater({
        windowBits: ours ? a.serverMaxWindowBits : a.clientMaxWindowBits,
        noContextTakeover: ours ? a.serverNoContextTakeover : a.clientNoContextTakeover,
        level: this.options.level,
        memLevel: this.options.memLevel,
        syncLimit: this.options.syncLimit ?? DEFAULT_SYNC_LIMIT,
      });
      if (this.closed) d.close();
      this.deflaterInstance = d;
    }
    return d;
  }

  /** The inflater for what we receive, created on first use. */
  get inflater(): MessageInflater {
    let i = this.inflaterInstance;
    if (i === null) {
      const a = this.agreement;
      const peerIsClient = this.role === 'server';
      i = new MessageInflater({
        windowBits: peerIsClient ? a.clientMaxWindowBits : a.serverMaxWindowBits,
        noContextTakeover: peerIsClient ? a.clientNoContextTakeover : a.serverNoContextTakeover,
        maxPayload: this.maxPayload,
        syncLimit: (this.options.syncLimit ?? DEFAULT_SYNC_LIMIT) / 8,
      });
      if (this.closed) i.close();
      this.inflaterInstance = i;
    }
    return i;
  }

  /** Free all zlib state; work in progress fails. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deflaterInstance?.close();
    this.inflaterInstance?.close();
  }
}
