import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { destination, type Logger, pino } from 'pino';
import { ConfigError, loadConfig, TextProblem, valueFromText } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { type ServeOptions, startServer } from '../server/serve.js';
import type { RedisBrokerOptions } from '../session/brokers/redis.js';

const HELP = `Usage: conduit serve [--config FILE] [options]

  --config FILE     a configuration file (.json, .yaml): conduit config init writes a starter one.
                    Flags win over CONDUIT_... environment variables, which win over the file.
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

/** Each flag and the setting it gives (src/config/schema.ts), and the value a boolean flag sets. */
const FLAGS: readonly (readonly [flag: string, path: string, value?: unknown])[] = [
  ['host', 'host'],
  ['port', 'port'],
  ['tls-cert', 'tls.cert'],
  ['tls-key', 'tls.key'],
  ['max-payload', 'maxPayload'],
  ['heartbeat', 'heartbeatMs'],
  ['deflate', 'deflate'],
  ['no-demo', 'demo', false],
  ['redis', 'redis.url'],
  ['redis-cluster', 'redis.cluster'],
  ['redis-sentinels', 'redis.sentinels'],
  ['redis-sentinel-name', 'redis.sentinelName'],
  ['redis-prefix', 'redis.prefix'],
  ['redis-replicas', 'redis.replicas'],
  ['trust-proxy', 'admission.trustedProxies'],
  ['max-connections-per-address', 'admission.maxConnectionsPerAddress'],
  ['new-sessions-per-second', 'admission.newSessionsPerSecond'],
  ['max-sessions-per-address', 'admission.maxSessionsPerAddress'],
  ['log-level', 'logLevel'],
];

/** The flags given, as a layer of settings for loadConfig (src/config/load.ts). */
function flagLayer(values: Record<string, string | boolean | undefined>): {
  values: Record<string, unknown>;
  names: Map<string, string>;
} {
  const layer: Record<string, unknown> = {};
  const names = new Map<string, string>();
  for (const [flag, path, fixed] of FLAGS) {
    const given = values[flag];
    if (given === undefined || given === false) continue;
    const keys = path.split('.');
    let value: unknown = fixed ?? valueFromText(keys, String(given));
    if (value instanceof TextProblem) throw new ConfigError([`--${flag}: ${path}: ${value.message}`]);
    if (flag === 'redis-cluster' || flag === 'redis-sentinels') value = (value as string[]).filter(Boolean);
    let node = layer;
    for (const key of keys.slice(0, -1)) {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys[keys.length - 1]!] = value;
    names.set(path, `--${flag}`);
  }
  return { values: layer, names };
}

/** What `startServer` takes, from a validated configuration (reads the TLS files). */
export async function serveOptions(
  config: Readonly<Config>,
  logger: Logger | undefined,
): Promise<ServeOptions> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (error) {
      throw new Error(
        `${what} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
  };
  const tls =
    config.tls === undefined
      ? undefined
      : { cert: await read(config.tls.cert, 'tls.cert'), key: await read(config.tls.key, 'tls.key') };
  const a = config.admission;
  const rate = a?.newSessionsPerSecond;
  return {
    logger,
    host: config.host,
    port: config.port,
    tls,
    maxPayload: config.maxPayload,
    receiveBudget: config.receiveBudget,
    heartbeatInterval: config.heartbeatMs,
    perMessageDeflate: config.deflate === 'off' ? false : { mode: config.deflate },
    demo: config.demo,
    redis: redisOptions(config.redis),
    access: config.access,
    api: config.api,
    admission:
      a === undefined
        ? undefined
        : {
            ...a,
            newSessionsBurst: a.newSessionsBurst ?? (rate === undefined ? undefined : Math.ceil(5 * rate)),
          },
  };
}

function redisOptions(redis: Readonly<Config>['redis']): RedisBrokerOptions | undefined {
  if (redis === undefined) return undefined;
  const hostPort = (item: string) => {
    const at = item.lastIndexOf(':');
    return { host: item.slice(0, at), port: Number(item.slice(at + 1)) };
  };
  const extra = {
    prefix: redis.prefix,
    ...(redis.replicas === undefined ? {} : { replicas: { count: redis.replicas } }),
  };
  if (redis.url !== undefined) return { redis: redis.url, ...extra };
  if (redis.cluster !== undefined) return { cluster: { nodes: redis.cluster.map(hostPort) }, ...extra };
  return { redis: { sentinels: (redis.sentinels ?? []).map(hostPort), name: redis.sentinelName }, ...extra };
}

/** Returns -1: the process stays up until a signal. */
export async function runServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      ...Object.fromEntries(
        FLAGS.map(([flag, , fixed]) => [
          flag,
          { type: fixed === undefined ? ('string' as const) : ('boolean' as const) },
        ]),
      ),
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const config = await loadConfig({
    file: typeof values.config === 'string' ? values.config : undefined,
    env: process.env,
    flags: flagLayer(values as Record<string, string | boolean | undefined>),
  });
  const level = config.logLevel;
  const logger = level === 'silent' ? undefined : pino({ level, base: { pid: process.pid } }, destination(2));
  const server = await startServer(await serveOptions(config, logger));
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
