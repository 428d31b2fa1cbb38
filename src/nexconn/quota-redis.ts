/**
 * The same sliding-window rule as MemoryWindow, shared by every replica through Redis: one sorted
 * set per App Key and endpoint (member = attempt id, score = end time, or a far-future time while in
 * flight) and one back-off key set after a Nexconn 429. Each step is one Lua script, so admission is
 * atomic across replicas; times come from the Redis server clock, so replica clocks do not matter.
 * Both keys carry the same hash tag, so the scripts also run on Redis Cluster.
 */
import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { quotaKeys } from '../redis/key-layout.ts'
import type { Admission } from './quota-window.ts'

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/**
 * KEYS: window, backoff. ARGV: limit, windowMs, holdMs, instance, first, count →
 * {admitted, waitMs, isBackoff 0|1}: admits up to `count` attempts while slots are free, as the
 * members instance:first, instance:first+1, … (the ids quota.ts gives their leases).
 */
const ACQUIRE = `${NOW}
local backoff = redis.call('PTTL', KEYS[2])
if backoff > 0 then return {0, backoff, 1} end
local window = tonumber(ARGV[2])
local hold = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local first = tonumber(ARGV[5])
local asked = tonumber(ARGV[6])
local admitted = math.max(0, math.min(asked, tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])))
for i = 0, admitted - 1 do redis.call('ZADD', KEYS[1], now + hold, ARGV[4] .. ':' .. (first + i)) end
if admitted > 0 then redis.call('PEXPIRE', KEYS[1], hold + window) end
if admitted == asked then return {admitted, 0, 0} end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {admitted, math.max(1, tonumber(oldest[2]) + window - now), 0}`

/** KEYS: window. ARGV: id, sent 0|1. Ends the in-flight hold (or frees the slot when nothing was sent). */
const RELEASE = `if ARGV[2] == '0' then return redis.call('ZREM', KEYS[1], ARGV[1]) end
${NOW}
return redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])`

/** KEYS: window. ARGV: instance, first, count. Frees the slots an admission that timed out may have taken. */
const ABANDON = `for i = 0, tonumber(ARGV[3]) - 1 do redis.call('ZREM', KEYS[1], ARGV[1] .. ':' .. (tonumber(ARGV[2]) + i)) end
return 1`

/** KEYS: backoff. ARGV: ms. Extends, never shortens, the shared back-off. */
const BACKOFF = `local current = redis.call('PTTL', KEYS[1])
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1`

interface Script { source: string, sha: string }
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') })
const SCRIPTS = { acquire: script(ACQUIRE), release: script(RELEASE), abandon: script(ABANDON), backoff: script(BACKOFF) }

/** The two commands used, typed once for both Redis and Cluster. */
interface ScriptRunner {
  evalsha: (sha: string, numKeys: number, ...args: Array<string | number>) => Promise<unknown>
  eval: (source: string, numKeys: number, ...args: Array<string | number>) => Promise<unknown>
}

export class RedisWindow {
  readonly #redis: ScriptRunner
  readonly #prefix: string
  readonly #windowMs: number
  readonly #holdMs: number

  constructor (redis: Redis | Cluster, prefix: string, windowMs: number, holdMs: number) {
    this.#redis = redis as unknown as ScriptRunner
    this.#prefix = prefix
    this.#windowMs = windowMs
    this.#holdMs = holdMs
  }

  keys (endpoint: string): { window: string, backoff: string } {
    return quotaKeys(this.#prefix, endpoint)
  }

  /**
   * One script call for a whole queue, a few bytes whatever its size: a burst costs one round trip,
   * not one per attempt. Admitted attempts hold the members `instance:first` … (see `slotId`).
   */
  async tryAcquire (endpoint: string, limit: number, instance: string, first: number, count: number): Promise<Admission> {
    const keys = this.keys(endpoint)
    const reply = await this.#run(SCRIPTS.acquire, [keys.window, keys.backoff], [limit, this.#windowMs, this.#holdMs, instance, first, count])
    if (!Array.isArray(reply) || reply.length < 3) throw new Error('unexpected quota script reply')
    const admitted = Number(reply[0])
    return { admitted, waitMs: admitted === count ? 0 : Math.max(1, Number(reply[1])), backoff: Number(reply[2]) === 1 }
  }

  async abandon (endpoint: string, instance: string, first: number, count: number): Promise<void> {
    await this.#run(SCRIPTS.abandon, [this.keys(endpoint).window], [instance, first, count])
  }

  async release (endpoint: string, id: string, sent: boolean): Promise<void> {
    await this.#run(SCRIPTS.release, [this.keys(endpoint).window], [id, sent ? '1' : '0'])
  }

  async backoff (endpoint: string, ms: number): Promise<void> {
    await this.#run(SCRIPTS.backoff, [this.keys(endpoint).backoff], [Math.max(1, Math.ceil(ms))])
  }

  async #run (s: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await this.#redis.evalsha(s.sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
      return await this.#redis.eval(s.source, keys.length, ...keys, ...args)
    }
  }
}
