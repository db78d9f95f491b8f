/**
 * Deliberately imperfect echo endpoints, to show that the conformance suite notices what it claims to
 * notice (harness.test.ts). Each fault is one switch; with none set, the server behaves like a
 * library that validates UTF-8 only once a message is complete (like ws: correct, but not fail-fast).
 */
import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { firstDeflateOffer, PMD } from './deflate.js';
import { clientHandshakeOffering, serverHandshake } from './handshake.js';
import { isValidWireCloseCode } from './peer.js';
import { closePayload, encodeFrame, FrameReader, newMaskKey, Opcode } from './wire.js';

export interface Faults {
  /** Echo text messages without checking UTF-8. */
  skipUtf8?: boolean;
  /** Accept frames with RSV bits set. */
  ignoreRsv?: boolean;
  /** Answer the closing handshake but never close TCP. */
  keepTcpOpen?: boolean;
  /** Echo any close code, valid or not. */
  echoAnyCloseCode?: boolean;
  /** Close TCP with a reset (RST) instead of a FIN after the closing handshake. */
  resetAfterClose?: boolean;
  /** Fail the connection by dropping TCP, without a close frame. */
  failSilently?: boolean;
  /** (client) Send frames unmasked. */
  unmasked?: boolean;
  /** (client) Close TCP right after answering the server's close frame. */
  closeTcpFirst?: boolean;
  /**
   * (server) permessage-deflate: accept offers (answering client_no_context_takeover, and what the
   * offer requires unless a fault says otherwise) and echo every message compressed.
   */
  deflate?: boolean;
  /** Compress with this window whatever was agreed. */
  deflateWindowBits?: number;
  /** Keep the compression context between messages even when server_no_context_takeover was agreed. */
  deflateKeepContext?: boolean;
  /** Send compressed echoes in two frames, RSV1 set on both. */
  deflateRsv1OnContinuation?: boolean;
  /** Answer server_no_context_takeover offers without the parameter (an illegal response). */
  deflateDropServerNoContext?: boolean;
  /** Accept any permessage-deflate offer, valid or not. */
  deflateAcceptAnything?: boolean;
  /** (client) Offer this and use the connection whatever the server answers (echoing uncompressed). */
  deflateOffer?: string;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** The faulty server's answer to an offer, or null to decline it. */
function deflateResponse(faults: Faults, offer: string | null): string | null {
  const o = firstDeflateOffer(offer);
  if (o === null) return null;
  const params = ['client_no_context_takeover'];
  for (const [key, value] of o.params) {
    if (key === 'server_no_context_takeover') {
      if (!faults.deflateDropServerNoContext) params.push(key);
    } else if (key === 'server_max_window_bits') {
      params.push(`${key}=${String(value)}`);
    } else if (key !== 'client_max_window_bits' && key !== 'client_no_context_takeover') {
      if (!faults.deflateAcceptAnything) return null;
    }
  }
  return [PMD, ...params].join('; ');
}

/** Compression for the faulty server's echoes: as agreed, unless a fault says otherwise. */
function deflateEcho(faults: Faults, response: string) {
  const bits = faults.deflateWindowBits ?? Number(/server_max_window_bits=(\d+)/.exec(response)?.[1] ?? 15);
  const keep = faults.deflateKeepContext === true || !response.includes('server_no_context_takeover');
  let history: Buffer = Buffer.alloc(0);
  return {
    compress(data: Buffer): Buffer {
      const out = deflateRawSync(data, {
        windowBits: bits,
        finishFlush: constants.Z_SYNC_FLUSH,
        ...(keep && history.length > 0 ? { dictionary: history.subarray(-(2 ** bits)) } : {}),
      });
      if (keep) history = Buffer.concat([history, data]).subarray(-32768);
      return out.subarray(0, out.length - 4);
    },
    // Our response always includes client_no_context_takeover: every message inflates on its own.
    inflate: (data: Buffer): Buffer =>
      inflateRawSync(Buffer.concat([data, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH }),
  };
}

/** Run the echo protocol on an upgraded socket, in either role, with the given faults. */
function echo(
  socket: Socket,
  role: 'client' | 'server',
  faults: Faults,
  head: Buffer,
  deflate: ReturnType<typeof deflateEcho> | null = null,
): void {
  const reader = new FrameReader();
  let messageOpcode = 0;
  let messageCompressed = false;
  let pieces: Buffer[] = [];
  let done = false;
  const mask = () => (role === 'client' && !faults.unmasked ? newMaskKey() : null);
  const send = (opcode: number, payload: Buffer) => {
    if (!socket.destroyed) socket.write(encodeFrame({ opcode, payload }, mask()));
  };
  const sendCompressed = (opcode: number, data: Buffer) => {
    const c = deflate!.compress(data);
    if (!faults.deflateRsv1OnContinuation || c.length < 2) {
      socket.write(encodeFrame({ opcode, payload: c, rsv: 4 }, mask()));
      return;
    }
    const half = c.length >> 1;
    socket.write(encodeFrame({ opcode, payload: c.subarray(0, half), rsv: 4, fin: false }, mask()));
    socket.write(encodeFrame({ opcode: Opcode.Continuation, payload: c.subarray(half), rsv: 4 }, mask()));
  };
  const fail = (code: number) => {
    done = true;
    if (faults.failSilently) {
      socket.destroy();
      return;
    }
    send(Opcode.Close, closePayload(code));
    socket.end();
  };
  const onData = (chunk: Buffer) => {
    for (const f of reader.push(chunk)) {
      if (done) return;
      const rsvAllowed =
        deflate !== null && f.rsv === 4 && (f.opcode === Opcode.Text || f.opcode === Opcode.Binary);
      if (f.rsv !== 0 && !faults.ignoreRsv && !rsvAllowed) return fail(1002);
      if (f.opcode >= 8) {
        if (!f.fin || f.payload.length > 125) return fail(1002);
        if (f.opcode === Opcode.Ping) send(Opcode.Pong, f.payload);
        else if (f.opcode === Opcode.Close) {
          const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
          if (f.payload.length === 1) return fail(1002);
          if (code !== undefined && !isValidWireCloseCode(code) && !faults.echoAnyCloseCode)
            return fail(1002);
          done = true;
          send(Opcode.Close, closePayload(code));
          if (role === 'server' && faults.resetAfterClose) {
            // Let the close frame go out first, then reset.
            setTimeout(() => socket.resetAndDestroy(), 20);
          } else if (role === 'server' ? !faults.keepTcpOpen : faults.closeTcpFirst) socket.end();
          return;
        } else if (f.opcode !== Opcode.Pong) return fail(1002);
        continue;
      }
      if (f.opcode === Opcode.Continuation) {
        if (messageOpcode === 0) return fail(1002);
      } else if (f.opcode === Opcode.Text || f.opcode === Opcode.Binary) {
        if (messageOpcode !== 0) return fail(1002);
        messageOpcode = f.opcode;
        messageCompressed = f.rsv === 4;
        pieces = [];
      } else return fail(1002);
      pieces.push(f.payload);
      if (!f.fin) continue;
      let data: Buffer = Buffer.concat(pieces);
      const opcode = messageOpcode;
      messageOpcode = 0;
      if (messageCompressed) {
        try {
          data = deflate!.inflate(data);
        } catch {
          return fail(1007);
        }
      }
      if (opcode === Opcode.Text && !faults.skipUtf8 && !isUtf8(data)) return fail(1007);
      if (deflate !== null) sendCompressed(opcode, data);
      else send(opcode, data);
    }
  };
  socket.on('data', onData);
  socket.on('end', () => socket.end());
  socket.on('error', () => undefined);
  socket.resume();
  if (head.length > 0) onData(head);
}

export async function startFaultyServer(faults: Faults): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const respond = faults.deflate
      ? (_target: string | null, offer: string | null) => deflateResponse(faults, offer)
      : undefined;
    serverHandshake(socket, 5000, respond).then(
      (accepted) => {
        const deflate = accepted.response === null ? null : deflateEcho(faults, accepted.response);
        if (accepted.problems.length === 0) echo(socket, 'server', faults, accepted.rest, deflate);
      },
      () => socket.destroy(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    url: `ws://127.0.0.1:${address.port}/echo`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client in echo mode with the given faults; resolves when its socket is closed. */
export async function runFaultyClient(url: string, faults: Faults): Promise<void> {
  const target = new URL(url);
  const socket = netConnect({ host: target.hostname, port: Number(target.port) });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  const { rest } = await clientHandshakeOffering(socket, target, 5000, faults.deflateOffer ?? null);
  echo(socket, 'client', faults, rest);
  await closed;
}
