/**
 * What the demo page at / needs from `conduit serve` (on by default in the CLI, off in the API):
 *   - a simulated market feed: random-walk prices of a few symbols published to `market.ticker`;
 *   - GET /demo/token?name=NAME: a signed token (HS256, 24 h) for that display name, so that presence
 *     shows names; clients without a token are still let in (anonymous).
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Hub } from '../session/hub.js';
import { type HttpRequest, type HttpResponse, replyJson } from './http-body.js';

export const DEMO_TICKER = 'market.ticker';

const SYMBOLS: [string, number][] = [
  ['ACME', 182.4],
  ['GLOBX', 63.15],
  ['INITECH', 24.9],
  ['UMBRL', 311.2],
  ['WAYNE', 148.75],
  ['STARK', 402.3],
];

export interface DemoOptions {
  /** How often the market feed publishes, ms. Default 500. */
  tickMs?: number;
}

export class Demo {
  /** The secret demo tokens are signed with: random, per process (never the server's own). */
  readonly secret = randomBytes(32);
  private readonly prices = new Map(SYMBOLS);
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly hub: Hub,
    options: DemoOptions = {},
  ) {
    this.timer = setInterval(() => this.tick(), options.tickMs ?? 500);
    this.timer.unref();
  }

  /** GET /demo/token?name=NAME */
  async token(req: HttpRequest, res: HttpResponse): Promise<void> {
    const name = new URL(req.url ?? '/', 'http://demo.invalid').searchParams.get('name')?.trim() ?? '';
    if (!/^[\p{L}\p{N} ._-]{1,24}$/u.test(name)) {
      replyJson(res, 400, { error: 'name: 1-24 letters, digits, spaces, . _ -' });
      return;
    }
    const token = await new SignJWT({ channels: ['chat.*', 'market.*'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(name)
      .setIssuedAt()
      .setExpirationTime('24h')
      .sign(this.secret);
    replyJson(res, 200, { token });
  }

  close(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const quotes: Record<string, number> = {};
    for (const [symbol, price] of this.prices) {
      const next = Math.max(1, price * (1 + (Math.random() - 0.5) * 0.004));
      this.prices.set(symbol, next);
      quotes[symbol] = Math.round(next * 100) / 100;
    }
    void this.hub.publish(DEMO_TICKER, JSON.stringify({ t: Date.now(), quotes })).catch(() => undefined);
  }
}
