/**
 * The Lua scripts of the Redis broker (redis.ts). Each runs atomically in Redis, so that an offset is
 * assigned exactly once whatever the number of nodes, and each touches keys of one channel only (one
 * hash tag, so one Redis Cluster slot).
 *
 * Keys of a channel C under prefix P: P{C}:m (hash: e epoch, o last offset, t last time ms),
 * P{C}:s (stream: one entry per publication, id "<time ms>-<offset>", fields d data, f from as JSON or
 * ""), P{C}:k:<key> (an idempotency key: "epoch offset time"), P{C}:p (sorted set: presence members by
 * expiry time), P{C}:pd (hash: member session -> user as JSON). Pub/sub channel P{C}:pub carries "m"
 * + a publication as JSON, "j"/"l" + a presence member as JSON.
 */

/**
 * Publish. KEYS: meta, stream, idempotency key (the meta key again when there is none).
 * ARGV: data, from (JSON or ""), maxCount, maxAgeMs (0: no age limit), idempotency ttl ms,
 * new epoch, pub/sub channel, "1" if there is an idempotency key, channel keys ttl ms, "1" to leave the
 * PUBLISH to the caller (it waits for replicas first).
 * Returns {0, "epoch offset time"} for a duplicate, {1, epoch, offset, time} for a new publication.
 */
export const PUBLISH_SCRIPT = `
if ARGV[8] == '1' then
  local dup = redis.call('GET', KEYS[3])
  if dup then return {0, dup} end
end
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[6]
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0, 't', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local last = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
if ms < last then ms = last end
redis.call('HSET', KEYS[1], 't', ms)
redis.call('XADD', KEYS[2], 'MAXLEN', '=', ARGV[3], ms .. '-' .. offset, 'd', ARGV[1], 'f', ARGV[2])
if tonumber(ARGV[4]) > 0 then
  redis.call('XTRIM', KEYS[2], 'MINID', (ms - tonumber(ARGV[4])) .. '-0')
end
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
if ARGV[10] ~= '1' then
  redis.call('PUBLISH', ARGV[7], 'm' .. cjson.encode({e = epoch, o = offset, t = ms, d = ARGV[1], f = ARGV[2]}))
end
if ARGV[8] == '1' then
  redis.call('SET', KEYS[3], epoch .. ' ' .. offset .. ' ' .. ms, 'PX', ARGV[5])
end
return {1, epoch, offset, ms}
`;

/**
 * Read a channel's top, and its kept publications after a position. KEYS: meta, stream.
 * ARGV: since epoch ("" for none), since offset, new epoch (if the channel has none yet), channel
 * keys ttl ms. Returns {epoch, top offset, entries (newest first, at most top - since, or all kept
 * for another epoch)}.
 */
export const RECOVER_SCRIPT = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0, 't', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local top = tonumber(redis.call('HGET', KEYS[1], 'o'))
if ARGV[1] == '' then return {epoch, top, {}} end
local since = tonumber(ARGV[2])
local count = top
if ARGV[1] == epoch then
  if since >= top then return {epoch, top, {}} end
  count = top - since
end
return {epoch, top, redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', count)}
`;

/**
 * Join or refresh presence. KEYS: members zset, members hash. ARGV: session, user JSON, expiry ms,
 * now ms, pub/sub channel, member JSON, keys ttl ms (longer than a member's: members expire one by
 * one through REAP_SCRIPT, with a leave; the keys only go when nobody refreshed them for long).
 * Returns 1 when the member was not there (or had expired).
 */
export const JOIN_SCRIPT = `
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
if previous and tonumber(previous) > tonumber(ARGV[4]) then return 0 end
redis.call('PUBLISH', ARGV[5], 'j' .. ARGV[6])
return 1
`;

/** Leave. KEYS: members zset, members hash. ARGV: session, pub/sub channel. Returns 1 if it was there. */
export const LEAVE_SCRIPT = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
local user = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if removed == 0 then return 0 end
redis.call('PUBLISH', ARGV[2], 'l' .. cjson.encode({s = ARGV[1], u = user or 'null'}))
return 1
`;

/**
 * Remove the members whose expiry passed (their node stopped refreshing them: it crashed) and tell
 * the others. KEYS: members zset, members hash. ARGV: now ms, pub/sub channel. Returns how many.
 */
export const REAP_SCRIPT = `
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, session in ipairs(expired) do
  redis.call('ZREM', KEYS[1], session)
  local user = redis.call('HGET', KEYS[2], session)
  redis.call('HDEL', KEYS[2], session)
  redis.call('PUBLISH', ARGV[2], 'l' .. cjson.encode({s = session, u = user or 'null'}))
end
return #expired
`;
