/**
 * The door of every authenticated route: a per-IP limit on failed authentications (so guessing
 * tokens or admin keys is slow), JWT verification, and a per-user rate limit on token requests
 * (`@fastify/rate-limit`, shared through Redis when configured). Counters degrade to in-process
 * ones while Redis is unavailable; a limiter never fails or delays a request because of Redis.
 */
import { createHash } from 'node:crypto'
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
/** How long a fleet-wide failure count read from Redis is reused. */
const REMOTE_READ_MS = 1_000

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `authenticateUser` once the caller's JWT is verified (per-user rate limits key on it). */
    identity?: Identity
  }
  interface FastifyInstance {
    /** onRequest hook for user routes: IP failure limit, then JWT verification (sets request.identity). */
    authenticateUser: (request: FastifyRequest) => Promise<void>
    authFailures: FailureLimiter
  }
}

/**
 * Fixed one-minute windows of failed authentications per client IP. Every request is checked,
 * so the check must be cheap: in-process counts first, and a replica asks Redis about an address
 * at most once a second (and not at all for a second after Redis failed).
 */
export class FailureLimiter {
  readonly #max: number
  readonly #redis: RedisClient | undefined
  readonly #prefix: string
  /** This replica's own failures per address and window. */
  readonly #local = new LRUCache<string, number>({ max: 50_000, ttl: WINDOW_MS })
  /** The fleet-wide count last read from Redis, per address and window. */
  readonly #remote = new LRUCache<string, number>({ max: 50_000, ttl: REMOTE_READ_MS })
  readonly #breaker = new RedisBreaker({ skipMs: REMOTE_READ_MS })

  constructor (max: number, redis: RedisClient | undefined, prefix: string) {
    this.#max = max
    this.#redis = redis
    this.#prefix = prefix
  }

  #window (ip: string): string {
    return `${ip} ${Math.floor(Date.now() / WINDOW_MS)}`
  }

  #redisKey (window: string): string {
    // Client addresses are personal data: only a digest reaches Redis.
    return `${this.#prefix}af:${createHash('sha256').update(window).digest('base64url').slice(0, 22)}`
  }

  #retryAfterS (): number {
    return Math.max(1, Math.ceil((WINDOW_MS - (Date.now() % WINDOW_MS)) / 1000))
  }

  async #fromRedis<T> (operation: (redis: RedisClient) => Promise<T>): Promise<T | undefined> {
    const redis = this.#redis
    if (redis === undefined) return undefined
    return await this.#breaker.attempt(async () => await operation(redis), undefined)
  }

  /** Throws `rate_limited` once the IP has failed too often in this window. */
  async check (ip: string): Promise<void> {
    if (this.#max === 0) return
    const window = this.#window(ip)
    let count = this.#local.get(window) ?? 0
    if (count < this.#max && this.#redis !== undefined) {
      let remote = this.#remote.get(window)
      if (remote === undefined) {
        remote = Number(await this.#fromRedis(async (redis) => await redis.get(this.#redisKey(window))) ?? 0)
        this.#remote.set(window, remote)
      }
      count = Math.max(count, remote)
    }
    if (count >= this.#max) {
      throw new BrokerError('rate_limited', 'Too many failed authentications from this address; retry later.', { retryAfterS: this.#retryAfterS() })
    }
  }

  async record (ip: string): Promise<void> {
    if (this.#max === 0) return
    const window = this.#window(ip)
    this.#local.set(window, (this.#local.get(window) ?? 0) + 1)
    const key = this.#redisKey(window)
    const count = await this.#fromRedis(async (redis) => {
      const value = await redis.incr(key)
      if (value === 1) await redis.pexpire(key, WINDOW_MS)
      return value
    })
    if (count !== undefined) this.#remote.set(window, count)
  }
}

/** Errors that count as a failed authentication. */
const FAILURES = new Set(['missing_token', 'invalid_token', 'invalid_request'])

export default fp<{ config: Config }>(async (app, { config }) => {
  const redis = app.redis?.client
  const prefix = config.redis?.keyPrefix ?? ''
  const failures = new FailureLimiter(config.ops.authFailuresPerMinute, redis, prefix)
  app.decorate('authFailures', failures)

  app.decorate('authenticateUser', async (request: FastifyRequest) => {
    await failures.check(request.ip)
    try {
      request.identity = await app.auth.authenticate(request.headers.authorization)
    } catch (err) {
      if (isBrokerError(err) && FAILURES.has(err.code)) await failures.record(request.ip)
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
