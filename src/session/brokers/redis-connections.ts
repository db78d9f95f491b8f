/**
 * The Redis broker's connections (redis.ts): one for commands and scripts, one in subscriber mode,
 * and a maker of more for classic pub/sub (the node mesh's inbox). On one Redis or through Sentinel
 * (ioredis `Redis`), or on a Redis Cluster (ioredis `Cluster`, whose subscriber uses sharded pub/sub).
 */
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

export interface RedisConnections {
  commands: Redis | Cluster;
  /** Subscriber mode: SUBSCRIBE, or SSUBSCRIBE on a Cluster (`sharded`). */
  subscriber: Redis | Cluster;
  /** Another connection for classic pub/sub, without a command timeout. */
  pubSub: () => Redis | Cluster;
  sharded: boolean;
}

export function openRedisConnections(
  redis: string | RedisOptions | undefined,
  cluster: { nodes: ClusterNode[]; options?: ClusterOptions } | undefined,
  commandTimeout: number,
): RedisConnections {
  if (cluster !== undefined) {
    const base = cluster.options ?? {};
    const nodeOptions = { maxRetriesPerRequest: 1, ...base.redisOptions };
    const make = (extra: ClusterOptions, timeout: number | undefined) =>
      new Cluster(cluster.nodes, {
        ...base,
        ...extra,
        redisOptions: { ...nodeOptions, commandTimeout: timeout },
      });
    const commands = make({}, commandTimeout);
    // Once up, a command while the Cluster is down fails at once (UNAVAILABLE, retried by the client)
    // instead of waiting in ioredis' offline queue, which has no timeout and no bound.
    commands.once('ready', () => {
      commands.options.enableOfflineQueue = false;
    });
    return {
      commands,
      subscriber: make({ shardedSubscribers: true }, undefined),
      pubSub: () => make({}, undefined),
      sharded: true,
    };
  }
  const connection: RedisOptions = {
    commandTimeout,
    maxRetriesPerRequest: 1,
    ...(typeof redis === 'object' ? redis : {}),
  };
  const url = typeof redis === 'string' ? redis : 'redis://127.0.0.1:6379';
  const commands = typeof redis === 'object' ? new Redis(connection) : new Redis(url, connection);
  const pubSub = () => commands.duplicate({ commandTimeout: undefined });
  return { commands, subscriber: pubSub(), pubSub, sharded: false };
}
