/**
 * Memory of webhook event ids, so an event Nexconn delivers twice (a retry, or a replayed URL)
 * is acted on once. Shared by every replica through Redis when it is configured
 * (`SET <prefix>wh:<sha256(id)> 1 EX 86400 NX`); otherwise, and whenever Redis fails, an
 * in-process LRU. A Redis failure therefore never fails the webhook: at worst an event that
 * reaches two replicas during an outage is acted on twice, and every action is idempotent.
 */
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { RedisClient } from '../redis/client.ts'

export const DEDUP_TTL_S = 86_400
export const DEDUP_MEMORY_MAX = 100_000
/** Upper bound on one Redis round trip here, on top of ioredis' own command timeout. */
export const DEDUP_REDIS_TIMEOUT_MS = 500
/** After a Redis failure, use memory alone for this long rather than pay a timeout per event. */
export const DEDUP_REDIS_SKIP_MS = 1_000

export interface EventDedupOptions {
  redis?: RedisClient | undefined
  keyPrefix: string
  logger: Logger
  now?: () => number
}

export interface EventDedup {
  /** True the first time an id is claimed (act on it), false for a duplicate. Never throws. */
  claim: (id: string) => Promise<boolean>
  /** Forgets a claim whose action failed, so that Nexconn's retry is acted on. Never throws. */
  release: (id: string) => Promise<void>
}

async function bounded<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(Object.assign(new Error('redis dedup timed out'), { code: 'DEDUP_TIMEOUT' })) }, ms)
    timer.unref()
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export function createEventDedup (options: EventDedupOptions): EventDedup {
  const now = options.now ?? Date.now
  // Hashed ids: bounded key size whatever Nexconn sends, and nothing of the body in Redis.
  const digest = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex')
  const memory = new LRUCache<string, true>({ max: DEDUP_MEMORY_MAX, ttl: DEDUP_TTL_S * 1000 })
  const redis = options.redis
  let skipRedisUntil = 0
  let redisFailing = false

  const claimInMemory = (hash: string): boolean => {
    if (memory.has(hash)) return false
    memory.set(hash, true)
    return true
  }

  const redisFailed = (err: unknown): void => {
    skipRedisUntil = now() + DEDUP_REDIS_SKIP_MS
    // One line per outage, not one per event.
    if (!redisFailing) options.logger.warn({ errCode: (err as { code?: unknown }).code }, 'webhook dedup: redis unavailable, remembering event ids in memory')
    redisFailing = true
  }

  return {
    claim: async (id) => {
      const hash = digest(id)
      if (redis === undefined || now() < skipRedisUntil) return claimInMemory(hash)
      try {
        const result = await bounded(redis.set(`${options.keyPrefix}wh:${hash}`, '1', 'EX', DEDUP_TTL_S, 'NX'), DEDUP_REDIS_TIMEOUT_MS)
        if (redisFailing) options.logger.info('webhook dedup: redis available again')
        redisFailing = false
        // Also remembered locally, so this replica still knows the id if Redis fails later.
        memory.set(hash, true)
        return result === 'OK'
      } catch (err) {
        redisFailed(err)
        return claimInMemory(hash)
      }
    },
    release: async (id) => {
      const hash = digest(id)
      memory.delete(hash)
      if (redis === undefined || now() < skipRedisUntil) return
      try {
        await bounded(redis.del(`${options.keyPrefix}wh:${hash}`), DEDUP_REDIS_TIMEOUT_MS)
      } catch (err) {
        redisFailed(err)
      }
    }
  }
}
