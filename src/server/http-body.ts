/**
 * Small HTTP helpers shared by the server's routes (http's and http2's compatibility API alike): a
 * JSON answer, and a request body read as UTF-8 text with a size limit and a deadline.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

export type HttpRequest = IncomingMessage | Http2ServerRequest;
export type HttpResponse = ServerResponse | Http2ServerResponse;

/**
 * Milliseconds a request body has to arrive in full, from the moment its route starts reading it; past
 * it, 408 and the connection is closed. 10 s: the largest body the server takes (1 MiB) then needs
 * about 100 KiB/s (a slow mobile uplink), a hub client's POST (at most 256 Ki characters) a quarter of
 * that; a client dribbling a byte at a time holds its buffer and its connection 10 s, not the 300 s
 * of Node's request timeout.
 */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/**
 * HTTP/1.1 connections answered with `Connection: close`. Node's parser goes on reading the requests
 * pipelined behind that answer and hands them to the server although their answers will never be
 * sent: a route acting on one would publish what nobody is told was published (and, behind a head
 * refused for smuggling, what the refusal was meant to stop).
 */
const closingConnections = new WeakSet<object>();

/**
 * Whether `req` came pipelined behind an answer that closes its connection: then leave it unanswered
 * (Node drops it with the connection) and do nothing it asks.
 */
export function behindClose(req: HttpRequest): boolean {
  return req.httpVersionMajor === 1 && closingConnections.has(req.socket);
}

/**
 * Answer with a JSON body. `close`: an HTTP/1.1 body we stopped reading or a request we refuse to
 * frame, so the connection closes after (and nothing pipelined behind is served: `behindClose`).
 */
export function replyJson(
  res: HttpResponse,
  status: number,
  body: unknown,
  close = false,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  const all: Record<string, string | number> = {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  const req = (res as ServerResponse).req as IncomingMessage | undefined;
  if (close && req?.httpVersionMajor === 1) {
    all.connection = 'close';
    closingConnections.add(req.socket);
  }
  (res as ServerResponse).writeHead(status, all).end(text);
  if (close && 'stream' in res) {
    // HTTP/2: the answer is complete; ask the client to stop sending the body (RFC 9113 section 8.1:
    // RST_STREAM with NO_ERROR after a complete response). Only this stream ends, not the connection.
    // (The stream's own 'finish': the compatibility response's waits for the stream to close.)
    const stream = res.stream;
    stream.once('finish', () => {
      if (!stream.closed) stream.close(0);
    });
  }
}

/**
 * The request body as UTF-8 text, or null when it was refused; the refusal is answered here:
 * - a Content-Length over `maxBytes`: 413 at once, nothing read, and the connection closed;
 * - a body (chunked, or HTTP/2) that passes `maxBytes`: 413 as it passes, the rest not read, closed;
 * - a body that has not arrived in full `timeoutMs` after this call: 408, closed;
 * - a body that is not UTF-8: 400 (the connection stays: the body was read in full);
 * - a request that failed or whose client left: null, no answer.
 */
export function readTextBody(
  req: HttpRequest,
  res: HttpResponse,
  maxBytes: number,
  headers: Record<string, string> = {},
  timeoutMs = DEFAULT_BODY_TIMEOUT_MS,
): Promise<string | null> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    replyJson(res, 413, { error: `body over ${maxBytes} bytes` }, true, headers);
    return Promise.resolve(null);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (text: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      chunks.length = 0;
      resolve(text);
    };
    const timer = setTimeout(() => {
      if (!res.headersSent && !res.destroyed) {
        replyJson(res, 408, { error: `the body did not arrive within ${timeoutMs} ms` }, true, headers);
      }
      finish(null);
    }, timeoutMs);
    // A client that stalls must not keep the process alive (nor a test runner) on its own.
    timer.unref();
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        replyJson(res, 413, { error: `body over ${maxBytes} bytes` }, true, headers);
        finish(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      const body = Buffer.concat(chunks, size);
      try {
        finish(new TextDecoder('utf-8', { fatal: true }).decode(body));
      } catch {
        replyJson(res, 400, { error: 'the body is not UTF-8 text' }, false, headers);
        finish(null);
      }
    });
    req.on('error', () => finish(null));
    req.on('close', () => finish(null));
  });
}
