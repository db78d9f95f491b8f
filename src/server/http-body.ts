/**
 * Small HTTP helpers shared by the server's routes (http's and http2's compatibility API alike): a
 * JSON answer, and a request body read as UTF-8 text with a size limit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

export type HttpRequest = IncomingMessage | Http2ServerRequest;
export type HttpResponse = ServerResponse | Http2ServerResponse;

/** Answer with a JSON body. `close`: an HTTP/1.1 body we stopped reading, so the connection closes after. */
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
  if (close && (res as ServerResponse).req?.httpVersionMajor === 1) all.connection = 'close';
  (res as ServerResponse).writeHead(status, all).end(text);
}

/**
 * The request body as UTF-8 text, or null when it was refused: over `maxBytes` (413, the rest is not
 * read), not UTF-8 (400), or the request failed. The refusal is answered here.
 */
export function readTextBody(
  req: HttpRequest,
  res: HttpResponse,
  maxBytes: number,
  headers: Record<string, string> = {},
): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (text: string | null) => {
      if (done) return;
      done = true;
      resolve(text);
    };
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
      try {
        finish(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, size)));
      } catch {
        replyJson(res, 400, { error: 'the body is not UTF-8 text' }, false, headers);
        finish(null);
      }
    });
    req.on('error', () => finish(null));
    req.on('close', () => finish(null));
  });
}
