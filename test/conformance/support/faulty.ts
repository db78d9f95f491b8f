/**
 * Deliberately imperfect echo endpoints, to show that the conformance suite notices what it claims to
 * notice (harness.test.ts). Each fault is one switch; with none set, the server behaves like a
 * library that validates UTF-8 only once a message is complete (like ws: correct, but not fail-fast).
 */
import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { clientHandshake, serverHandshake } from './handshake.js';
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
}

/** Run the echo protocol on an upgraded socket, in either role, with the given faults. */
function echo(socket: Socket, role: 'client' | 'server', faults: Faults, head: Buffer): void {
  const reader = new FrameReader();
  let messageOpcode = 0;
  let pieces: Buffer[] = [];
  let done = false;
  const mask = () => (role === 'client' && !faults.unmasked ? newMaskKey() : null);
  const send = (opcode: number, payload: Buffer) => {
    if (!socket.destroyed) socket.write(encodeFrame({ opcode, payload }, mask()));
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
      if (f.rsv !== 0 && !faults.ignoreRsv) return fail(1002);
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
        pieces = [];
      } else return fail(1002);
      pieces.push(f.payload);
      if (!f.fin) continue;
      const data = Buffer.concat(pieces);
      const opcode = messageOpcode;
      messageOpcode = 0;
      if (opcode === Opcode.Text && !faults.skipUtf8 && !isUtf8(data)) return fail(1007);
      send(opcode, data);
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
    serverHandshake(socket, 5000).then(
      (accepted) => {
        if (accepted.problems.length === 0) echo(socket, 'server', faults, accepted.rest);
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
  const head = await clientHandshake(socket, target, 5000);
  echo(socket, 'client', faults, head);
  await closed;
}
