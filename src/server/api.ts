/**
 * The server API for backends (issue 15, item 6; first part): HTTP JSON under /api/, for a backend in
 * any language to publish into hub channels, read history and presence, without speaking the client
 * protocol. Off unless an API key is configured (`api.key`, or CONDUIT_API_KEY): then every request
 * carries `Authorization: apikey KEY` (401 otherwise). An adapter over the same Hub and broker port as
 * the transports: a publish here reaches WebSocket, SSE and long-polling subscribers alike, with the
 * same offsets, on every node.
 *
 *   POST /api/publish   {"channel", "data", "idempotencyKey"?} -> {"epoch", "offset"}
 *   POST /api/history   {"channel", "since"?: {"epoch", "offset"}, "limit"?} -> {"epoch", "offset",
 *                       "recovered", "reason"?, "publications": [{"offset", "data", "time", "from"}]}
 *   POST /api/presence  {"channel"} -> {"members": [{"session", "user"}]}
 *   POST /api/info      {} -> {"node", "sessions", "transports"}
 *
 * Errors: a JSON body {"code", "message"} with 400 (BAD_REQUEST), 401 (UNAUTHORIZED), 404 (NOT_FOUND),
 * 405, 413 (over 1 MiB), 503 (UNAVAILABLE: the broker failed; nothing was published, retry with the
 * same idempotency key).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isChannelName } from '../protocol/hub/messages.js';
import type { Hub } from '../session/hub.js';
import { type HttpRequest, type HttpResponse, readTextBody, replyJson } from './http-body.js';

export interface ApiOptions {
  /** The API key backends send (`Authorization: apikey KEY`); 16 characters or more. */
  key: string;
  /** Largest request body, bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Milliseconds a request body has to arrive in (408). */
  bodyTimeoutMs?: number;
}

/** History entries one request returns at most. */
const MAX_HISTORY_LIMIT = 1000;

type Handler = (body: Record<string, unknown>) => Promise<[status: number, answer: unknown]>;

class BadRequest extends Error {}

export class ServerApi {
  private readonly keyDigest: Buffer;
  private readonly routes: ReadonlyMap<string, Handler>;

  constructor(
    private readonly hub: Hub,
    private readonly options: ApiOptions,
  ) {
    if (options.key.length < 16) throw new RangeError('api.key: 16 characters or more');
    this.keyDigest = digest(options.key);
    this.routes = new Map<string, Handler>([
      ['/api/publish', (body) => this.publish(body)],
      ['/api/history', (body) => this.history(body)],
      ['/api/presence', (body) => this.presence(body)],
      ['/api/info', async () => [200, this.info()]],
    ]);
  }

  /** Handle a request whose path starts with /api/. */
  async handle(req: HttpRequest, res: HttpResponse, path: string): Promise<void> {
    const route = this.routes.get(path);
    if (route === undefined) {
      replyJson(res, 404, { code: 'NOT_FOUND', message: `no API method ${path}` });
      return;
    }
    if (req.method !== 'POST') {
      replyJson(res, 405, { code: 'METHOD_NOT_ALLOWED', message: `${path} takes POST` }, false, {
        allow: 'POST',
      });
      return;
    }
    if (!this.authorized(req.headers.authorization)) {
      replyJson(res, 401, { code: 'UNAUTHORIZED', message: 'send Authorization: apikey KEY' });
      return;
    }
    const text = await readTextBody(
      req,
      res,
      this.options.maxBodyBytes ?? 1024 * 1024,
      {},
      this.options.bodyTimeoutMs,
    );
    if (text === null) return;
    let body: unknown;
    try {
      body = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      replyJson(res, 400, { code: 'BAD_REQUEST', message: 'the body is not JSON' });
      return;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      replyJson(res, 400, { code: 'BAD_REQUEST', message: 'the body must be a JSON object' });
      return;
    }
    try {
      const [status, answer] = await route(body as Record<string, unknown>);
      replyJson(res, status, answer);
    } catch (error) {
      if (error instanceof BadRequest) replyJson(res, 400, { code: 'BAD_REQUEST', message: error.message });
      else
        replyJson(res, 503, {
          code: 'UNAVAILABLE',
          message: `the broker failed: ${(error as Error).message}`,
        });
    }
  }

  private authorized(header: string | undefined): boolean {
    const match = /^apikey\s+(\S+)\s*$/i.exec(header ?? '');
    if (match === null) return false;
    return timingSafeEqual(digest(match[1]!), this.keyDigest);
  }

  private async publish(body: Record<string, unknown>): Promise<[number, unknown]> {
    const channel = channelOf(body);
    if (typeof body.data !== 'string') throw new BadRequest('data must be a string');
    const key = body.idempotencyKey;
    if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 128)) {
      throw new BadRequest('idempotencyKey must be a string of 1-128 characters');
    }
    const publication = await this.hub.publish(
      channel,
      body.data,
      key === undefined ? {} : { idempotencyKey: `api\u0000${channel}\u0000${key}` },
    );
    return [200, { epoch: publication.epoch, offset: publication.offset }];
  }

  private async history(body: Record<string, unknown>): Promise<[number, unknown]> {
    const channel = channelOf(body);
    const limit = body.limit ?? 100;
    if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_HISTORY_LIMIT) {
      throw new BadRequest(`limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`);
    }
    const since = body.since;
    let position: { epoch: string; offset: number };
    if (since === undefined) {
      position = { epoch: '', offset: 0 };
    } else {
      const p = since as Record<string, unknown>;
      if (
        typeof since !== 'object' ||
        since === null ||
        typeof p.epoch !== 'string' ||
        !Number.isSafeInteger(p.offset) ||
        (p.offset as number) < 0
      ) {
        throw new BadRequest('since must be {"epoch": string, "offset": integer >= 0}');
      }
      position = { epoch: p.epoch, offset: p.offset as number };
    }
    // Without `since`: what is kept (a position of another epoch recovers everything kept).
    const recovery = await this.hub.broker.recover(channel, position);
    const publications = recovery.publications.slice(0, limit as number).map((p) => ({
      offset: p.offset,
      data: p.data,
      time: p.time,
      from: p.from === null ? null : { session: p.from.session, user: p.from.user },
    }));
    const answer: Record<string, unknown> = {
      epoch: recovery.top.epoch,
      offset: recovery.top.offset,
      recovered: since === undefined ? true : recovery.recovered,
      publications,
    };
    if (since !== undefined && !recovery.recovered) answer.reason = recovery.reason;
    return [200, answer];
  }

  private async presence(body: Record<string, unknown>): Promise<[number, unknown]> {
    const channel = channelOf(body);
    const members = await this.hub.broker.members(channel);
    return [200, { members: members.map((m) => ({ session: m.session, user: m.user })) }];
  }

  private info(): unknown {
    const stats = this.hub.stats();
    return { node: this.hub.node ?? null, sessions: stats.sessions, transports: stats.transports };
  }
}

function channelOf(body: Record<string, unknown>): string {
  const channel = body.channel;
  if (typeof channel !== 'string' || !isChannelName(channel)) {
    throw new BadRequest('channel: 1-128 characters of A-Z a-z 0-9 . _ : - /');
  }
  return channel;
}

/** Keys are compared by digest: equal lengths for timingSafeEqual, nothing learned from timing. */
function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
