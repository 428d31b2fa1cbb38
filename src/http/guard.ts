/**
 * The door of every authenticated route: JWT verification, a per-address limit on failed
 * authentications, and a per-user rate limit on token requests (`@fastify/rate-limit`, shared
 * through Redis when configured). A token that verifies is always served, whatever its address
 * did before: mobile carriers (CGNAT), offices and proxies put thousands of users behind one
 * address, and one app build stuck retrying a stale token must not lock all of them out. What the
 * limit changes is what a failing address is told: past the limit its bad tokens get `429` with
 * Retry-After instead of `401`, which stops well-behaved retry loops and keeps them out of our logs.
 * Counters degrade to in-process ones while Redis is unavailable; a limiter never fails or delays a
 * request because of Redis.
 */
import { createHmac } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import type { Identity } from '../auth/index.ts'
import type { Config } from '../config.ts'
import { BrokerError, isBrokerError } from '../errors.ts'
import { RedisBreaker } from '../redis/breaker.ts'
import type { RedisClient } from '../redis/client.ts'

const WINDOW_MS = 60_000
/** After a Redis failure, count in this process alone for this long. */
const REDIS_SKIP_MS = 1_000

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `authenticateUser` once the caller's JWT is verified (per-user rate limits key on it). */
    identity?: Identity
  }
  interface FastifyInstance {
    /** onRequest hook for user routes: JWT verification (sets request.identity), then the failure limit for bad tokens. */
    authenticateUser: (request: FastifyRequest) => Promise<void>
    authFailures: FailureLimiter
  }
}

/**
 * Failed authentications per client address, in fixed one-minute windows, across replicas
 * through Redis. Only failures touch it, so a valid request pays nothing. Addresses are personal
 * data and few enough to enumerate: Redis sees only an HMAC of address and window, keyed by a
 * secret, never the address or a plain hash of it.
 */
export class FailureLimiter {
  readonly #max: number
  readonly #redis: RedisClient | undefined
  readonly #prefix: string
  readonly #secret: string
  /** This replica's own failures per address and window. */
  readonly #local = new LRUCache<string, number>({ max: 50_000, ttl: WINDOW_MS })
  readonly #breaker = new RedisBreaker({ skipMs: REDIS_SKIP_MS })

  constructor (max: number, redis: RedisClient | undefined, prefix: string, secret: string) {
    this.#max = max
    this.#redis = redis
    this.#prefix = prefix
    this.#secret = secret
  }

  #window (ip: string): string {
    return `${ip} ${Math.floor(Date.now() / WINDOW_MS)}`
  }

  #redisKey (window: string): string {
    return `${this.#prefix}af:${createHmac('sha256', this.#secret).update(window).digest('base64url').slice(0, 22)}`
  }

  #retryAfterS (): number {
    return Math.max(1, Math.ceil((WINDOW_MS - (Date.now() % WINDOW_MS)) / 1000))
  }

  /** Counts a failure; answers the `rate_limited` error to send instead once the address is over the limit. */
  async record (ip: string): Promise<BrokerError | undefined> {
    if (this.#max === 0) return undefined
    const window = this.#window(ip)
    const local = (this.#local.get(window) ?? 0) + 1
    this.#local.set(window, local)
    const redis = this.#redis
    const key = this.#redisKey(window)
    const fleet = redis === undefined
      ? undefined
      : await this.#breaker.attempt(async () => {
        const value = await redis.incr(key)
        if (value === 1) await redis.pexpire(key, WINDOW_MS)
        return value
      }, undefined)
    if (Math.max(local, fleet ?? 0) <= this.#max) return undefined
    return new BrokerError('rate_limited', 'Too many failed authentications from this address; retry later with a valid token.', { retryAfterS: this.#retryAfterS() })
  }
}

/** Errors that count as a failed authentication. */
const FAILURES = new Set(['missing_token', 'invalid_token', 'invalid_request'])

export default fp<{ config: Config }>(async (app, { config }) => {
  const redis = app.redis?.client
  const prefix = config.redis?.keyPrefix ?? ''
  const failures = new FailureLimiter(config.ops.authFailuresPerMinute, redis, prefix, config.nexconn.appSecret)
  app.decorate('authFailures', failures)

  app.decorate('authenticateUser', async (request: FastifyRequest) => {
    try {
      request.identity = await app.auth.authenticate(request.headers.authorization)
    } catch (err) {
      if (isBrokerError(err) && FAILURES.has(err.code)) throw await failures.record(request.ip) ?? err
      throw err
    }
  })

  await app.register(rateLimit, {
    global: false,
    ...(redis === undefined ? {} : { redis, nameSpace: `${prefix}rl:` }),
    // A limiter must not turn a Redis outage into an outage of the broker.
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new BrokerError('rate_limited', `Too many token requests for this user; at most ${context.max} per minute.`, { retryAfterS: Math.max(1, Math.ceil(context.ttl / 1000)) })
  })
}, { name: 'guard', dependencies: ['auth', 'redis'] })

/** Route options for a per-user limit; applied after `authenticateUser` has set the identity. */
export function perUserRateLimit (config: Config, userKey: (userId: string) => string): { rateLimit: false | { max: number, timeWindow: number, hook: 'preHandler', keyGenerator: (request: FastifyRequest) => string } } {
  if (config.ops.rateLimitPerMinute === 0) return { rateLimit: false }
  return {
    rateLimit: {
      max: config.ops.rateLimitPerMinute,
      timeWindow: WINDOW_MS,
      hook: 'preHandler',
      // An opaque, secret-derived key: no user id reaches Redis.
      keyGenerator: (request) => userKey(request.identity?.userId ?? request.ip)
    }
  }
}
