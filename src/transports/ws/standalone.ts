/**
 * The listener of a standalone WebSocketServer (`port` option): a plain TCP server that reads one
 * HTTP/1.1 request head per connection with the sans-I/O parser, then hands the socket to the
 * WebSocket handshake. Skipping Node's http server saves its parser, request and response objects on
 * every connection: a WebSocket that sits idle costs little more than its TCP socket.
 *
 * Anything that is not a WebSocket upgrade gets `426 Upgrade Required`; a malformed head `400`, an
 * oversized one `431`, a slow one `408`, and the socket is closed.
 */
import { IncomingMessage } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import {
  HttpParseError,
  type ParsedRequestHead,
  RequestHeadParser,
} from '../../protocol/http1/request-head.js';
import { buildRefusal } from '../../protocol/ws/handshake.js';
import { hasToken } from '../../util/tokens.js';

export interface StandaloneHandlers {
  /** A complete upgrade request: finish the WebSocket handshake. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** How long a client may take to send its request head. */
  headTimeout: number;
}

export class StandaloneListener {
  readonly server: Server;
  /** Sockets still sending their request head (closed by `close()`). */
  private readonly reading = new Set<Socket>();

  constructor(private readonly handlers: StandaloneHandlers) {
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Stop accepting; drop connections that have not finished their request head. */
  stopAccepting(): Promise<void> {
    for (const socket of this.reading) socket.destroy();
    this.reading.clear();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      // Resolves once upgraded connections are gone too (the caller closes those).
      this.server.close(() => resolve());
    });
  }

  private accept(socket: Socket): void {
    const parser = new RequestHeadParser();
    this.reading.add(socket);
    const finish = (): void => {
      this.reading.delete(socket);
      clearTimeout(timer);
      socket.off('data', onData);
    };
    const refuse = (status: number, message: string, headers: Record<string, string> = {}): void => {
      finish();
      socket.on('error', noop);
      if (socket.writable) socket.end(buildRefusal(status, message, headers));
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    const timer = setTimeout(() => refuse(408, 'request head timed out'), this.handlers.headTimeout);
    timer.unref();
    const onData = (chunk: Buffer): void => {
      let head: ParsedRequestHead | null;
      try {
        head = parser.push(chunk);
      } catch (error) {
        const e = error instanceof HttpParseError ? error : new HttpParseError(400, 'bad request');
        refuse(e.status, e.message);
        return;
      }
      if (head === null) return;
      finish();
      socket.pause();
      socket.off('error', onError);
      if (!hasToken(head.headers.upgrade, 'websocket')) {
        refuse(426, 'Upgrade Required', { Upgrade: 'websocket' });
        return;
      }
      this.handlers.upgrade(toIncomingMessage(socket, head), socket, parser.rest);
    };
    const onError = (): void => {
      finish();
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onError);
  }
}

function noop(): void {}

/** What `authenticate` and the 'connection' event get: a real IncomingMessage, filled in by hand. */
function toIncomingMessage(socket: Socket, head: ParsedRequestHead): IncomingMessage {
  const req = new IncomingMessage(socket);
  req.method = head.method;
  req.url = head.url;
  req.httpVersion = head.httpVersion;
  req.httpVersionMajor = head.httpVersionMajor;
  req.httpVersionMinor = head.httpVersionMinor;
  req.headers = head.headers;
  req.rawHeaders = head.rawHeaders;
  req.complete = true;
  return req;
}
