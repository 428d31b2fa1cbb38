/**
 * What the webhook endpoint remembers: event ids it handled (so a redelivered event is acted on
 * once) and signatures it accepted (so a captured callback URL cannot be replayed with another
 * body). Shared by every replica through Redis when it is configured; otherwise, and whenever
 * Redis fails, a bounded in-process LRU. A Redis failure never fails a webhook: during an outage
 * each replica remembers on its own (documented in docs/operations.md).
 *
 * Keys hold digests, never what Nexconn sent: bounded key sizes, and nothing of a body in Redis.
 */
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { RedisBreaker } from '../redis/breaker.ts'
import type { RedisClient } from '../redis/client.ts'
import { webhookKey } from '../redis/key-layout.ts'

export const MEMORY_MAX_ENTRIES = 100_000
/** Upper bound on one Redis round trip here, on top of ioredis' own command timeout. */
export const REDIS_TIMEOUT_MS = 500
/** After a Redis failure, use memory alone for this long rather than pay a timeout per event. */
export const REDIS_SKIP_MS = 1_000

/** Sets the key unless it exists; answers the value already there, or nil when it was set now. */
const REMEMBER_SCRIPT = `
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`

/** `event`: handled event ids; `signature`: accepted (nonce, timestamp) signatures. */
export type MemoryKind = 'event' | 'signature'

const KEY_SEGMENT: Record<MemoryKind, string> = { event: 'wh', signature: 'whs' }

export interface WebhookMemoryOptions {
  redis?: RedisClient | undefined
  keyPrefix: string
  logger: Logger
  now?: () => number
}

export interface WebhookMemory {
  /**
   * Remembers `value` under `name` for `ttlMs`, unless something is remembered already. Answers
   * `undefined` the first time, else the value remembered first. Never throws.
   */
  remember: (kind: MemoryKind, name: string, value: string, ttlMs: number) => Promise<string | undefined>
  /** Forgets `name` (an action failed: Nexconn's retry must be acted on). Never throws. */
  forget: (kind: MemoryKind, name: string) => Promise<void>
}

export function digest (value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex')
}

export function createWebhookMemory (options: WebhookMemoryOptions): WebhookMemory {
  const now = options.now ?? Date.now
  const local = new LRUCache<string, string>({ max: MEMORY_MAX_ENTRIES, ttlAutopurge: false, ttlResolution: 0, perf: { now } })
  const redis = options.redis
  const breaker = new RedisBreaker({
    skipMs: REDIS_SKIP_MS,
    timeoutMs: REDIS_TIMEOUT_MS,
    now,
    onDown: (err) => { options.logger.warn({ errCode: (err as { code?: unknown }).code }, 'webhook memory: redis unavailable, remembering event ids and signatures in memory') },
    onUp: () => { options.logger.info('webhook memory: redis available again') }
  })
  const keyOf = (kind: MemoryKind, name: string): string => webhookKey(options.keyPrefix, KEY_SEGMENT[kind], digest(name))

  const rememberLocally = (key: string, value: string, ttlMs: number): string | undefined => {
    const existing = local.get(key)
    if (existing !== undefined) return existing
    local.set(key, value, { ttl: ttlMs })
    return undefined
  }

  return {
    remember: async (kind, name, value, ttlMs) => {
      const key = keyOf(kind, name)
      if (redis === undefined || !breaker.usable()) return rememberLocally(key, value, ttlMs)
      try {
        const existing = await breaker.run(async () => await redis.eval(REMEMBER_SCRIPT, 1, key, value, Math.max(1, Math.round(ttlMs))))
        // Also kept locally, so this replica still knows it if Redis fails later.
        local.set(key, typeof existing === 'string' ? existing : value, { ttl: ttlMs })
        return typeof existing === 'string' ? existing : undefined
      } catch {
        return rememberLocally(key, value, ttlMs)
      }
    },
    forget: async (kind, name) => {
      const key = keyOf(kind, name)
      local.delete(key)
      if (redis === undefined) return
      await breaker.attempt(async () => await redis.del(key), undefined)
    }
  }
}
