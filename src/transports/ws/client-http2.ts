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
import { SessionPool, sessionKey } from '../http2-pool.js';
import { WebSocketConnection } from './connection.js';

/** HTTP/2 sessions WebSockets share, by origin and `tls` options object. */
const sessions = new SessionPool();
/** Per session: whether the server allows extended CONNECT (its first SETTINGS frame says). */
const connectProtocol = new WeakMap<ClientHttp2Session, Promise<boolean>>();

/** The pool key of a ws:/wss: URL's HTTP origin and the `tls` options object. */
export function wsSessionKey(url: URL, tls: object | undefined): string {
  return sessionKey(`${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`, tls);
}

/** Whether an HTTP/2 connection to this origin is open now (the client then uses it by itself). */
export function hasSession(key: string): boolean {
  return sessions.get(key) !== undefined;
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
  const session = sessionFor(p.key, p.url, p.tls);
  sessions.hold(session);
  let handedOver = false;
  try {
    if (!(await within(connectProtocol.get(session)!, p.handshakeTimeout, p.signal))) return null;
    const stream = session.request({
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
    connection.once('close', () => sessions.release(session));
    setImmediate(() => connection.start());
    return connection;
  } finally {
    if (!handedOver) sessions.release(session);
  }
}

function sessionFor(key: string, url: URL, tls: TlsOptions | undefined): ClientHttp2Session {
  const existing = sessions.get(key);
  if (existing !== undefined) return existing;
  const origin = `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
  const created = http2Connect(origin, url.protocol === 'wss:' ? { ...tls } : {});
  connectProtocol.set(
    created,
    new Promise<boolean>((resolve) => {
      created.once('remoteSettings', (settings) => resolve(settings.enableConnectProtocol === true));
      created.once('error', () => resolve(false));
      created.once('close', () => resolve(false));
    }),
  );
  created.on('error', () => undefined); // each stream reports its own failure
  return sessions.add(key, created);
}

/** `promise`, or a rejection after `ms` or when `signal` aborts. */
function within<T>(promise: Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(new Error('the opening handshake was aborted'));
    };
    const timer = setTimeout(() => {
      done();
      reject(new HandshakeError('WS_ERR_HANDSHAKE_TIMEOUT', 0, 'opening handshake timed out'));
    }, ms);
    timer.unref();
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}
