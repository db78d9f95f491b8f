/**
 * The configuration of `conduit serve`, as data: one schema (zod) from which the TypeScript type, the
 * validation and the JSON Schema published for editors (`conduit config schema`,
 * docs/conduit.config.schema.json) all come. Nothing below the CLI reads files, the environment or
 * flags: they are merged and validated here once (load.ts) into one frozen Config.
 */
import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$/, { message: 'expected host:port' })
  .describe('host:port');

const RedisSchema = z
  .strictObject({
    url: z.string().describe('redis://[:password@]host:port[/db]: standalone Redis').optional(),
    cluster: z.array(hostPort).min(1).describe('Redis Cluster seed nodes (sharded pub/sub)').optional(),
    sentinels: z.array(hostPort).min(1).describe('Redis Sentinel addresses').optional(),
    sentinelName: z.string().min(1).describe('the master Sentinel monitors').default('mymaster'),
    prefix: z.string().describe('prefix of every Redis key and pub/sub channel').default('conduit:'),
    replicas: z
      .int()
      .min(1)
      .describe('acknowledge a publish once this many replicas have it (Redis WAIT)')
      .optional(),
  })
  .refine((r) => [r.url, r.cluster, r.sentinels].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of url, cluster and sentinels',
  })
  .refine((r) => r.replicas === undefined || r.cluster === undefined, {
    message: 'replicas goes with url or sentinels, not cluster',
    path: ['replicas'],
  })
  .describe('Scale-out: the hub on Redis, shared by every node with the same Redis and prefix');

const AdmissionSchema = z
  .strictObject({
    trustedProxies: z
      .array(z.string().min(1))
      .describe('proxies whose X-Forwarded-For names the client (exact addresses)')
      .optional(),
    maxConnectionsPerAddress: z.int().min(1).describe('TCP connections per client address (429)').optional(),
    maxHandshakesPerAddress: z
      .int()
      .min(1)
      .describe('WebSocket handshakes in flight per client address (503)')
      .optional(),
    maxHandshakes: z.int().min(1).describe('WebSocket handshakes in flight in all (503)').optional(),
    newSessionsPerSecond: z
      .number()
      .positive()
      .describe('new hub sessions a second per client address (429 or close 1013)')
      .optional(),
    newSessionsBurst: z.int().min(1).describe('new hub sessions at once before the rate applies').optional(),
    maxSessionsPerAddress: z.int().min(1).describe('hub sessions held per client address').optional(),
  })
  .describe('Limits per client address (docs/memory-budget.md)');

const AccessSchema = z
  .strictObject({
    origins: z
      .array(z.string().min(1))
      .describe("Origins allowed on the hub's routes (exact, e.g. https://app.example.com); others get 403")
      .optional(),
    tokenSecret: z
      .string()
      .min(32)
      .describe(
        'HS256 secret (32 bytes or more; a secret: prefer CONDUIT_ACCESS_TOKEN_SECRET): tokens required',
      )
      .optional(),
    allowAnonymous: z
      .boolean()
      .describe('with a secret, let clients without a token in as anonymous')
      .optional(),
    tokenAudience: z.string().min(1).describe('required aud claim').optional(),
    tokenIssuer: z.string().min(1).describe('required iss claim').optional(),
  })
  .describe('Who may use the hub (/ws, /hub/*): Origin allow-list and signed tokens');

export const ConfigSchema = z
  .strictObject({
    host: z.string().min(1).describe('address to listen on').default('127.0.0.1'),
    port: z.int().min(0).max(65535).describe('port (0 picks a free one)').default(8080),
    tls: z
      .strictObject({
        cert: z.string().min(1).describe('PEM certificate file'),
        key: z.string().min(1).describe('PEM private key file'),
      })
      .describe('serve https:// (HTTP/2 and HTTP/1.1 on one port) and wss://')
      .optional(),
    maxPayload: z.int().min(1).describe('largest WebSocket message, bytes (default 16 MiB)').optional(),
    receiveBudget: z
      .int()
      .min(1)
      .describe('memory for WebSocket messages being received, all connections, bytes (default 512 MiB)')
      .optional(),
    heartbeatMs: z
      .int()
      .min(0)
      .describe('WebSocket ping interval, ms; 0 turns it off (default 30000)')
      .optional(),
    deflate: z
      .enum(['shared', 'dedicated', 'off'])
      .describe('permessage-deflate: shared (no zlib state per connection), dedicated or off')
      .default('shared'),
    demo: z.boolean().describe('the demo market feed and /demo/token').default(true),
    logLevel: z
      .enum(['debug', 'info', 'warn', 'error', 'silent'])
      .describe('structured logs on stderr')
      .default('info'),
    access: AccessSchema.optional(),
    api: z
      .strictObject({
        key: z
          .string()
          .min(16)
          .describe('the key backends send as Authorization: apikey KEY (a secret: prefer CONDUIT_API_KEY)'),
      })
      .describe('the server API for backends under /api/ (publish, history, presence, info); off without it')
      .optional(),
    redis: RedisSchema.optional(),
    admission: AdmissionSchema.optional(),
  })
  .describe('conduit serve configuration');

/** The configuration as validated, defaults filled in. */
export type Config = z.output<typeof ConfigSchema>;

/** The JSON Schema of a configuration file (what a file may say: defaulted keys are optional). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return { ...schema, title: 'conduit serve configuration' };
}
