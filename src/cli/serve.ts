import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { destination, pino } from 'pino';
import { startServer } from '../server/serve.js';
import type { RedisBrokerOptions } from '../session/brokers/redis.js';

const HELP = `Usage: conduit serve [options]

  --host H          address to listen on (default 127.0.0.1)
  --port P          port (default 8080; 0 picks a free one)
  --tls-cert FILE   PEM certificate: serve https:// (HTTP/2 and HTTP/1.1 on one port) and wss://
  --tls-key FILE    PEM private key for --tls-cert
  --max-payload N   largest message in bytes (default 16777216)
  --heartbeat MS    ping interval, 0 to disable (default 30000)
  --deflate MODE    permessage-deflate: shared (default; no zlib state kept per connection),
                    dedicated (context takeover: better ratio, ~300 KiB per busy connection) or off
  --no-demo         no simulated market feed and no /demo/token (the demo page still loads)
  --redis URL       scale-out: the hub's channels, history and presence in Redis (redis://[:password@]host:port),
                    shared by every node started with the same URL and prefix
  --redis-cluster NODES   the same on a Redis Cluster: seed nodes host:port,host:port,... (sharded pub/sub)
  --redis-sentinels NODES the same through Redis Sentinel: sentinels host:port,...; with
  --redis-sentinel-name N the name of the monitored master (default mymaster)
  --redis-replicas N with --redis or --redis-sentinels: acknowledge a publish once N replicas have it
                    (Redis WAIT): a failover cannot lose an acknowledged message
  --redis-prefix P  prefix of every Redis key and pub/sub channel (default conduit:)
  --trust-proxy ADDRS   proxies (exact addresses, comma-separated) whose X-Forwarded-For names the
                    client: behind a reverse proxy, set it, or every client counts as the proxy's address
  --max-connections-per-address N   TCP connections one client address may hold (default 256; 429)
  --new-sessions-per-second N       new hub sessions a second per client address (default 10, bursts of
                    5x; 429 or close 1013)
  --max-sessions-per-address N      hub sessions held per client address (default 1000)
  --log-level L     structured logs (JSON lines, pino) on stderr: debug, info (default), warn, error, silent

Endpoints: GET / (demo page: chat, market ticker), GET /conduit.js (hub client),
the hub: WS /ws (conduit.v1), GET /hub/sse, GET /hub/poll, POST /hub/send (docs/protocol.md),
WS /echo, WS /broadcast, GET /ws-console, GET /healthz,
GET /sse?channel=NAME (Server-Sent Events, resumable with Last-Event-ID),
POST /publish?channel=NAME (the body is published; 202 {"id": n}).
Stops cleanly on SIGINT/SIGTERM (clients get close code 1001).

HTTP limits: a request head in 10 s (408), a whole request in 30 s, a POST body of at most 1 MiB (413,
at once for a Content-Length over it) in 10 s (408); at most 100 header fields and 16 KiB of head (431);
idle keep-alive connections close after 5 s. Connections held at once: the open-file limit (ulimit -n)
less what is open at startup and 32; past it new ones are closed and a warning is logged (every 10 s).`;

/** --redis, --redis-cluster or --redis-sentinels (one of them), with --redis-prefix. */
function redisOptions(values: {
  redis?: string;
  'redis-cluster'?: string;
  'redis-sentinels'?: string;
  'redis-sentinel-name'?: string;
  'redis-prefix'?: string;
  'redis-replicas'?: string;
}): RedisBrokerOptions | undefined {
  const given = (['redis', 'redis-cluster', 'redis-sentinels'] as const).filter(
    (k) => values[k] !== undefined,
  );
  if (given.length > 1) throw new Error(`--${given.join(' and --')} exclude each other: choose one`);
  const replicas = values['redis-replicas'];
  const extra = {
    ...(values['redis-prefix'] === undefined ? {} : { prefix: values['redis-prefix'] }),
    ...(replicas === undefined ? {} : { replicas: { count: parseInteger(replicas, '--redis-replicas') } }),
  };
  if (replicas !== undefined && values['redis-cluster'] !== undefined) {
    throw new Error('--redis-replicas goes with --redis or --redis-sentinels, not --redis-cluster');
  }
  if (values.redis !== undefined) return { redis: values.redis, ...extra };
  if (values['redis-cluster'] !== undefined) {
    return { cluster: { nodes: hostPorts(values['redis-cluster'], '--redis-cluster') }, ...extra };
  }
  if (values['redis-sentinels'] !== undefined) {
    const sentinels = hostPorts(values['redis-sentinels'], '--redis-sentinels');
    return { redis: { sentinels, name: values['redis-sentinel-name'] ?? 'mymaster' }, ...extra };
  }
  if (values['redis-prefix'] !== undefined || replicas !== undefined)
    throw new Error(
      '--redis-prefix and --redis-replicas go with --redis, --redis-cluster or --redis-sentinels',
    );
  return undefined;
}

/** "host:port,host:port" -> [{ host, port }], or a clear error. */
function hostPorts(text: string, flag: string): { host: string; port: number }[] {
  return text.split(',').map((item) => {
    const at = item.lastIndexOf(':');
    const host = item.slice(0, at).trim();
    const port = Number(item.slice(at + 1));
    if (at <= 0 || host === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`${flag} expects host:port[,host:port...], got '${item}'`);
    }
    return { host, port };
  });
}

/** Returns -1: the process stays up until a signal. */
export async function runServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'max-payload': { type: 'string' },
      heartbeat: { type: 'string' },
      deflate: { type: 'string', default: 'shared' },
      'no-demo': { type: 'boolean' },
      redis: { type: 'string' },
      'redis-cluster': { type: 'string' },
      'redis-sentinels': { type: 'string' },
      'redis-sentinel-name': { type: 'string', default: 'mymaster' },
      'redis-prefix': { type: 'string' },
      'redis-replicas': { type: 'string' },
      'trust-proxy': { type: 'string' },
      'max-connections-per-address': { type: 'string' },
      'new-sessions-per-second': { type: 'string' },
      'max-sessions-per-address': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const port = parseInteger(values.port, '--port');
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
    throw new Error('--tls-cert and --tls-key go together');
  }
  const tls =
    values['tls-cert'] && values['tls-key']
      ? { cert: await readFile(values['tls-cert']), key: await readFile(values['tls-key']) }
      : undefined;
  const level = values['log-level'];
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) {
    throw new Error(`--log-level expects debug, info, warn, error or silent, got '${level}'`);
  }
  const logger = level === 'silent' ? undefined : pino({ level, base: { pid: process.pid } }, destination(2));
  const rate =
    values['new-sessions-per-second'] === undefined
      ? undefined
      : parseInteger(values['new-sessions-per-second'], '--new-sessions-per-second');
  const admission = {
    ...(values['trust-proxy'] === undefined
      ? {}
      : {
          trustedProxies: values['trust-proxy']
            .split(',')
            .map((a) => a.trim())
            .filter((a) => a !== ''),
        }),
    ...(values['max-connections-per-address'] === undefined
      ? {}
      : {
          maxConnectionsPerAddress: parseInteger(
            values['max-connections-per-address'],
            '--max-connections-per-address',
          ),
        }),
    ...(rate === undefined ? {} : { newSessionsPerSecond: rate, newSessionsBurst: 5 * rate }),
    ...(values['max-sessions-per-address'] === undefined
      ? {}
      : {
          maxSessionsPerAddress: parseInteger(
            values['max-sessions-per-address'],
            '--max-sessions-per-address',
          ),
        }),
  };
  const server = await startServer({
    admission,
    logger,
    perMessageDeflate: parseDeflateMode(values.deflate),
    demo: values['no-demo'] !== true,
    redis: redisOptions(values),
    host: values.host,
    port,
    tls,
    maxPayload:
      values['max-payload'] === undefined ? undefined : parseInteger(values['max-payload'], '--max-payload'),
    heartbeatInterval:
      values.heartbeat === undefined ? undefined : parseInteger(values.heartbeat, '--heartbeat'),
  });
  const ws = server.url.replace(/^http/, 'ws');
  process.stdout.write(
    `conduit serving ${server.url}/  (hub: ${ws}/ws, ${server.url}/hub/sse, /hub/poll; WebSocket: ${ws}/echo, ${ws}/broadcast; SSE: ${server.url}/sse?channel=NAME)\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write(`\n${signal}: closing connections...\n`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return -1;
}

/** `--deflate off|shared|dedicated`, for serve and connect. */
export function parseDeflateMode(value: string): false | { mode: 'shared' | 'dedicated' } {
  if (value === 'off') return false;
  if (value === 'shared' || value === 'dedicated') return { mode: value };
  throw new Error(`--deflate expects off, shared or dedicated, got '${value}'`);
}

export function parseInteger(value: string, name: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`${name} expects a non-negative integer, got '${value}'`);
  return Number(value);
}
