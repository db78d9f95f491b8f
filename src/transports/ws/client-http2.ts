/**
 * RFC 8441 for the Node client: a WebSocket as an extended CONNECT stream of an HTTP/2 connection.
 * Connections are shared by every WebSocket to the same origin (and `tls` options object) and closed
 * with the last of them. A server that does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL gets
 * `null` back, and the caller falls back to an HTTP/1.1 upgrade.
 */
import { type ClientHttp2Session, connect as http2Connect } from 'node:http2';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { DeflateCodec, type PerMessageDeflateOptions } from '../../pipeline/permessage-deflate.js';
import { HandshakeError } from '../../protocol/errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/ws/connection.js';
import type { Extension } from '../../protocol/ws/extensions.js';
import { formatExtensions } from '../../protocol/ws/extensions.js';
import { validateExtendedConnectResponse } from '../../protocol/ws/handshake.js';
import type { DeflateAgreement } from '../../protocol/ws/permessage-deflate.js';
import { WebSocketConnection } from './connection.js';

interface Pooled {
  readonly session: ClientHttp2Session;
  /** Resolves with whether the server allows extended CONNECT (its first SETTINGS frame). */
  readonly connectProtocol: Promise<boolean>;
  users: number;
}

const pool = new Map<string, Pooled>();
const tlsKeys = new WeakMap<object, number>();
let nextTlsKey = 1;

/** The HTTP origin of a ws:/wss: URL, with the `tls` options object that distinguishes sessions. */
export function sessionKey(url: URL, tls: object | undefined): string {
  const origin = `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
  if (tls === undefined) return origin;
  let key = tlsKeys.get(tls);
  if (key === undefined) {
    key = nextTlsKey++;
    tlsKeys.set(tls, key);
  }
  return `${origin}|${key}`;
}

/** Whether an HTTP/2 connection to this origin is open now (the client then uses it by itself). */
export function hasSession(key: string): boolean {
  const entry = pool.get(key);
  return entry !== undefined && !entry.session.closed && !entry.session.destroyed;
}

export interface Http2ConnectParams {
  url: URL;
  key: string;
  tls: TlsOptions | undefined;
  /** Request headers besides the pseudo-headers: version, subprotocols, extensions, origin, extras. */
  headers: Record<string, string>;
  protocols: readonly string[];
  /** Whether the permessage-deflate response element is acceptable; records the agreement. */
  acceptExtension: (ext: Extension) => boolean;
  agreement: () => DeflateAgreement | null;
  deflateOptions: PerMessageDeflateOptions | null;
  maxPayload: number | undefined;
  closeTimeout: number | undefined;
  highWaterMark: number | undefined;
  pauseOnBackpressure: boolean | undefined;
  inspectFrames: boolean | undefined;
  handshakeTimeout: number;
  signal: AbortSignal | undefined;
}

/** Open the WebSocket on a shared HTTP/2 connection; null when the server does not allow it. */
export async function connectOverHttp2(p: Http2ConnectParams): Promise<WebSocketConnection | null> {
  const entry = session(p.key, p.url, p.tls);
  entry.users++;
  let handedOver = false;
  try {
    if (!(await within(entry.connectProtocol, p.handshakeTimeout))) return null;
    const stream = entry.session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': p.url.protocol === 'wss:' ? 'https' : 'http',
      ':path': `${p.url.pathname}${p.url.search}`,
      ...p.headers,
    });
    const headers = await new Promise<Record<string, string | string[] | number | undefined>>(
      (resolve, reject) => {
        const timer = setTimeout(() => {
          stream.close();
          reject(new HandshakeError('WS_ERR_HANDSHAKE_TIMEOUT', 0, 'opening handshake timed out'));
        }, p.handshakeTimeout);
        timer.unref();
        const onAbort = () => {
          clearTimeout(timer);
          stream.close();
          reject(new Error('the opening handshake was aborted'));
        };
        if (p.signal?.aborted) return onAbort();
        p.signal?.addEventListener('abort', onAbort, { once: true });
        stream.once('response', (h) => {
          clearTimeout(timer);
          p.signal?.removeEventListener('abort', onAbort);
          resolve(h);
        });
        stream.once('error', (error) => {
          clearTimeout(timer);
          p.signal?.removeEventListener('abort', onAbort);
          reject(error);
        });
      },
    );
    let negotiated: ReturnType<typeof validateExtendedConnectResponse>;
    try {
      negotiated = validateExtendedConnectResponse(
        { status: Number(headers[':status']), headers: headers as Record<string, string> },
        { protocols: p.protocols },
        p.acceptExtension,
      );
    } catch (error) {
      stream.close();
      throw error;
    }
    const agreement = p.agreement();
    const connection = new WebSocketConnection(stream, {
      role: 'client',
      protocol: negotiated.protocol,
      extensions: formatExtensions(negotiated.extensions),
      deflate:
        agreement === null || p.deflateOptions === null
          ? null
          : new DeflateCodec(agreement, 'client', p.deflateOptions, p.maxPayload ?? DEFAULT_MAX_PAYLOAD),
      maxPayload: p.maxPayload,
      closeTimeout: p.closeTimeout,
      highWaterMark: p.highWaterMark,
      pauseOnBackpressure: p.pauseOnBackpressure ?? false,
      inspectFrames: p.inspectFrames,
      url: p.url.href,
    });
    handedOver = true;
    connection.once('close', () => release(p.key, entry));
    setImmediate(() => connection.start());
    return connection;
  } finally {
    if (!handedOver) release(p.key, entry);
  }
}

function session(key: string, url: URL, tls: TlsOptions | undefined): Pooled {
  const existing = pool.get(key);
  if (existing !== undefined && !existing.session.closed && !existing.session.destroyed) return existing;
  const origin = `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
  const created = http2Connect(origin, url.protocol === 'wss:' ? { ...tls } : {});
  const connectProtocol = new Promise<boolean>((resolve) => {
    created.once('remoteSettings', (settings) => resolve(settings.enableConnectProtocol === true));
    created.once('error', () => resolve(false));
    created.once('close', () => resolve(false));
  });
  created.on('error', () => undefined); // each stream reports its own failure
  const entry: Pooled = { session: created, connectProtocol, users: 0 };
  pool.set(key, entry);
  created.once('close', () => {
    if (pool.get(key) === entry) pool.delete(key);
  });
  return entry;
}

function release(key: string, entry: Pooled): void {
  entry.users--;
  if (entry.users > 0) return;
  if (pool.get(key) === entry) pool.delete(key);
  entry.session.close();
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new HandshakeError('WS_ERR_HANDSHAKE_TIMEOUT', 0, 'opening handshake timed out')),
      ms,
    );
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
