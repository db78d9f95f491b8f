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

export interface PerMessageDeflateOptions {
  /** Default 'shared' for servers, 'dedicated' for clients. */
  mode?: DeflateMode;
  /** Messages shorter than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
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
  readonly threshold: number;
  private deflaterInstance: MessageDeflater | null = null;
  private inflaterInstance: MessageInflater | null = null;
  private closed = false;

  constructor(
    readonly agreement: DeflateAgreement,
    private readonly role: 'client' | 'server',
    private readonly options: PerMessageDeflateOptions,
    private readonly maxPayload: number,
  ) {
    this.threshold = options.threshold ?? DEFAULT_THRESHOLD;
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
