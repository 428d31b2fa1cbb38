/**
 * Puts already-issued tokens into Redis, as if these users had logged in before (on any replica):
 * the state a warm cache is in. Written with the broker's own code — its configuration loader,
 * cache key derivation (`userKeyFor`), cipher and `RedisStore.put` — from the same
 * environment the broker processes get, so the brokers read these entries exactly as their own.
 *
 * Cold issuance is measured by the cold-spike scenario; seeding keeps the other scenarios from
 * spending minutes behind Nexconn's 200 issues/s quota (100,000 users would take over 8 minutes).
 */
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { pino } from 'pino'
import { loadConfig } from '../../src/config.ts'
import { TokenCipher } from '../../src/tokens/crypto.ts'
import { RedisStore } from '../../src/tokens/redis-store.ts'
import { userKeyFor } from '../../src/tokens/keys.ts'

const BATCH = 1_000

export async function seedTokens (redis: Redis, brokerEnv: Record<string, string>, ids: readonly string[]): Promise<void> {
  const config = loadConfig(brokerEnv, { runMode: 'production' })
  const key = config.tokens.encryptionKey
  if (key === undefined || config.redis === undefined) throw new Error('seedTokens needs REDIS_URL and TOKEN_ENCRYPTION_KEY in the broker env')
  const logger = pino({ level: 'silent' })
  const store = new RedisStore({ client: redis, cipher: new TokenCipher(key), keyPrefix: config.redis.keyPrefix, logger })
  const ttlMs = config.tokens.cacheMaxAgeS * 1000
  const issuedAt = Date.now()
  for (let i = 0; i < ids.length; i += BATCH) {
    await Promise.all(ids.slice(i, i + BATCH).map(async (userId) => {
      // Same shape as an emulator token: 48 base64 characters.
      const token = randomBytes(34).toString('base64')
      const stored = await store.put(userKeyFor(config.nexconn.appKey, config.nexconn.appSecret, userId), { userId, token, issuedAt, expiresAt: null }, ttlMs)
      if (!stored) throw new Error(`seeding ${userId} was refused`)
    }))
  }
}
