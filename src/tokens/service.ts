/**
 * The token flow, in one place:
 *
 *   in-process LRU ──miss──▶ store (Redis or memory) ──miss──▶ lock ──▶ Nexconn issue ──▶ store
 *
 * - Each user's token is issued once: concurrent requests in this process share one promise
 *   (single flight); across replicas a store lock elects one issuer while the others poll the
 *   store for its result, and proceed on their own if it dies (its lock expires quickly
 *   because the holder keeps extending a short lease).
 * - Revocation is never undone by a race: a cutoff is recorded before Nexconn is told, every
 *   cache refuses tokens issued before it, and an issue that was in flight when the cutoff was
 *   set is discarded and done again.
 * - The store failing (Redis down or frozen) is never an error here: the flow continues with the
 *   in-process cache, the in-process single flight and Nexconn.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { Identity } from '../auth/index.ts'
import type { Config } from '../config.ts'
import type { NexconnClient } from '../nexconn/index.ts'
import { userKeyFor } from './keys.ts'
import type { CachedToken, TokenStore } from './store.ts'

/**
 * How long a token stays in the in-process cache before the store is asked again: at most this, at
 * least (1 - MEMORY_TTL_SPREAD) of it. The spread keeps users served together (a warm-up, a morning
 * peak) from all going back to the store in the same seconds a minute later: that burst of Redis
 * reads, decryptions and garbage showed as a step in tail latency under steady load.
 */
export const MEMORY_TTL_MS = 60_000
const MEMORY_TTL_SPREAD = 0.25
/** The shortest any entry lives in the in-process cache. */
export const MEMORY_TTL_MIN_MS = MEMORY_TTL_MS * (1 - MEMORY_TTL_SPREAD)
/**
 * Cutoffs (revocations and logouts) and forceRefresh throttles seen by this replica in the last hour:
 * the in-process copies guard issues racing them; the store keeps every cutoff for as long as needed.
 */
const RECENT_ENTRIES_MAX = 20_000
/** An issuer's lock lease; it is extended while the Nexconn call runs. */
export const LOCK_LEASE_MS = 2_000
export const LOCK_POLL_MS = 25
/** forceRefresh issues a new token at most this often per user. */
export const FORCE_REFRESH_WINDOW_MS = 30_000
/** Refresh margin for expiring tokens: 10 % of the lifetime, at least a minute. */
export const MIN_REFRESH_MARGIN_MS = 60_000

export type TokenOutcome = 'memory_hit' | 'store_hit' | 'issued' | 'refreshed' | 'waited'

export interface TokenResult {
  token: CachedToken
  outcome: TokenOutcome
}

export interface TokenHooks {
  onOutcome?: (outcome: TokenOutcome | 'refreshed_ahead' | 'force_refresh_throttled') => void
  onStoreError?: () => void
}

/** Tells other replicas to drop a user's token from their in-process cache. */
export interface InvalidationBus {
  publish: (userKey: string, cutoff: number) => Promise<void>
  subscribe: (listener: (userKey: string, cutoff: number) => void) => void
  /** Some invalidations may have been missed and cannot be replayed: drop every cached token. */
  onMissed?: (listener: () => void) => void
}

export interface TokenServiceOptions {
  store: TokenStore
  nexconn: Pick<NexconnClient, 'issueToken' | 'expireTokens'>
  appKey: string
  /** Keys are derived from the App Secret: rotating it makes every old cache entry unreachable. */
  appSecret: string
  tokenTtlS: number
  cacheMaxAgeS: number
  /** Upper bound of one token request's work (`NEXCONN_DEADLINE_MS`). */
  deadlineMs: number
  /** Time one Nexconn attempt needs; a waiter keeps at least this much for its own issue. */
  attemptMs: number
  logger: Logger
  bus?: InvalidationBus
  hooks?: TokenHooks
  now?: () => number
  /**
   * Users whose token the in-process cache keeps (`TOKEN_MEMORY_CACHE_USERS`); the least recently
   * served go first, and come back from the store. It bounds the broker's memory whatever the
   * number of users.
   */
  memoryMaxUsers: number
}

/** What a TokenService takes from the broker's configuration. */
export function serviceSettings (config: Config): Pick<TokenServiceOptions, 'appKey' | 'appSecret' | 'tokenTtlS' | 'cacheMaxAgeS' | 'memoryMaxUsers' | 'deadlineMs' | 'attemptMs'> {
  return {
    appKey: config.nexconn.appKey,
    appSecret: config.nexconn.appSecret,
    tokenTtlS: config.nexconn.tokenTtlS,
    cacheMaxAgeS: config.tokens.cacheMaxAgeS,
    memoryMaxUsers: config.tokens.memoryCacheUsers,
    deadlineMs: config.nexconn.deadlineMs,
    attemptMs: config.nexconn.timeoutMs
  }
}

export interface GetTokenOptions {
  forceRefresh?: boolean
  requestId?: string
}

export class TokenService {
  readonly #options: TokenServiceOptions
  readonly #now: () => number
  readonly #memory: LRUCache<string, CachedToken>
  /** Latest revocation cutoff seen per user key, so in-flight issues can be discarded. */
  readonly #cutoffs = new LRUCache<string, number>({ max: RECENT_ENTRIES_MAX, ttl: 3_600_000 })
  readonly #inFlight = new Map<string, Promise<TokenResult>>()
  readonly #userKeys: LRUCache<string, string>
  /** Fallback forceRefresh throttle when the store cannot be asked. */
  readonly #localThrottle = new LRUCache<string, true>({ max: RECENT_ENTRIES_MAX, ttl: FORCE_REFRESH_WINDOW_MS })
  readonly #ttlMs: number
  readonly #marginMs: number

  constructor (options: TokenServiceOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    // A test's clock drives expiry too; otherwise lru-cache's own monotonic one.
    this.#memory = new LRUCache({ max: options.memoryMaxUsers, ttl: MEMORY_TTL_MS, ...(options.now === undefined ? {} : { perf: { now: options.now } }) })
    // A user's key is worth keeping as long as their token is: same bound.
    this.#userKeys = new LRUCache({ max: options.memoryMaxUsers })
    this.#ttlMs = options.tokenTtlS * 1000
    this.#marginMs = Math.max(MIN_REFRESH_MARGIN_MS, this.#ttlMs / 10)
    options.bus?.subscribe((userKey, cutoff) => {
      this.#forget(userKey, cutoff)
      options.store.discardPending?.(userKey, cutoff)
    })
    options.bus?.onMissed?.(() => { this.#memory.clear() })
  }

  /** The user's opaque cache key (see `keys.ts`), memoised: an HMAC per request was a measurable share of a cache hit. */
  userKey (userId: string): string {
    let key = this.#userKeys.get(userId)
    if (key === undefined) {
      key = userKeyFor(this.#options.appKey, this.#options.appSecret, userId)
      this.#userKeys.set(userId, key)
    }
    return key
  }

  async getToken (identity: Identity, options: GetTokenOptions = {}): Promise<TokenResult> {
    const result = await this.#getToken(identity, options)
    this.#options.hooks?.onOutcome?.(result.outcome)
    return result
  }

  async #getToken (identity: Identity, options: GetTokenOptions): Promise<TokenResult> {
    const key = this.userKey(identity.userId)
    let force = options.forceRefresh === true
    if (force && !(await this.#mayForceRefresh(key))) {
      this.#options.hooks?.onOutcome?.('force_refresh_throttled')
      force = false
    }
    if (!force) {
      const hit = this.#fromMemory(key)
      if (hit !== undefined) {
        this.#maybeRefreshAhead(key, identity, hit, options.requestId)
        return { token: hit, outcome: 'memory_hit' }
      }
    }
    const flightKey = force ? `${key}!` : key
    let flight = this.#inFlight.get(flightKey)
    if (flight === undefined) {
      flight = this.#load(key, identity, force, options.requestId).finally(() => { this.#inFlight.delete(flightKey) })
      this.#inFlight.set(flightKey, flight)
      return await flight
    }
    const shared = await flight
    return { token: shared.token, outcome: shared.outcome === 'issued' || shared.outcome === 'refreshed' ? 'waited' : shared.outcome }
  }

  /**
   * Logout: the user's cached token is dropped everywhere; Nexconn is not told. Recorded as a cutoff,
   * like a revocation, so nothing issued before now comes back: not an issue racing this call, nor a
   * write another replica kept for later while Redis was unavailable.
   */
  async forget (userId: string): Promise<void> {
    await this.#invalidate(this.userKey(userId), this.#now())
  }

  /**
   * Expires the users' tokens at Nexconn (every token obtained before now) and in every cache.
   * The cutoff is recorded first, so an issue racing this call can never store or serve a
   * token from before it.
   */
  async revoke (userIds: string[], requestId?: string): Promise<number> {
    const cutoff = this.#now()
    const unique = [...new Set(userIds)]
    await Promise.all(unique.map(async (userId) => { await this.#invalidate(this.userKey(userId), cutoff) }))
    await this.#options.nexconn.expireTokens(unique, cutoff, requestId === undefined ? {} : { requestId })
    return unique.length
  }

  /** Every cache, here, in the store and on the other replicas, refuses the user's tokens from before `cutoff`. */
  async #invalidate (key: string, cutoff: number): Promise<void> {
    const rememberMs = Math.max(this.#options.cacheMaxAgeS * 1000, this.#ttlMs) + this.#options.deadlineMs
    this.#forget(key, cutoff)
    await this.#safely(async () => { await this.#options.store.revoke(key, cutoff, rememberMs) }, undefined)
    await this.#safely(async () => { await this.#options.bus?.publish(key, cutoff) }, undefined)
  }

  #remember (key: string, token: CachedToken): void {
    this.#memory.set(key, token, { ttl: Math.round(MEMORY_TTL_MIN_MS + (MEMORY_TTL_MS - MEMORY_TTL_MIN_MS) * Math.random()) })
  }

  #forget (userKey: string, cutoff: number): void {
    this.#memory.delete(userKey)
    if (cutoff > (this.#cutoffs.get(userKey) ?? 0)) this.#cutoffs.set(userKey, cutoff)
  }

  #fromMemory (key: string): CachedToken | undefined {
    const token = this.#memory.get(key)
    if (token === undefined) return undefined
    if (!this.#usable(key, token)) {
      this.#memory.delete(key)
      return undefined
    }
    return token
  }

  /** Servable: not revoked, and (for expiring tokens) not within the refresh margin of expiry. */
  #usable (key: string, token: CachedToken): boolean {
    if (token.issuedAt < (this.#cutoffs.get(key) ?? 0)) return false
    return token.expiresAt === null || this.#now() < token.expiresAt - this.#marginMs
  }

  /** Expiring tokens are renewed in the background once they enter twice the margin. */
  #maybeRefreshAhead (key: string, identity: Identity, token: CachedToken, requestId: string | undefined): void {
    if (token.expiresAt === null || this.#now() < token.expiresAt - 2 * this.#marginMs) return
    const flightKey = `${key}~`
    if (this.#inFlight.has(flightKey)) return
    const refresh = this.#issueWithLock(key, identity, true, requestId, { skipIfLocked: true })
      .then((result) => {
        if (result.outcome === 'issued') this.#options.hooks?.onOutcome?.('refreshed_ahead')
        return result
      })
      .finally(() => { this.#inFlight.delete(flightKey) })
    this.#inFlight.set(flightKey, refresh)
    refresh.catch((err: unknown) => { this.#options.logger.warn({ err }, 'background token refresh failed; the current token is still served') })
  }

  async #mayForceRefresh (key: string): Promise<boolean> {
    if (this.#localThrottle.has(key)) return false
    this.#localThrottle.set(key, true)
    return await this.#safely(async () => await this.#options.store.throttle(key, FORCE_REFRESH_WINDOW_MS), true)
  }

  async #load (key: string, identity: Identity, force: boolean, requestId: string | undefined): Promise<TokenResult> {
    if (!force) {
      const stored = await this.#safely(async () => await this.#options.store.get(key), undefined)
      if (stored !== undefined && this.#usable(key, stored)) {
        this.#remember(key, stored)
        this.#maybeRefreshAhead(key, identity, stored, requestId)
        return { token: stored, outcome: 'store_hit' }
      }
    }
    return await this.#issueWithLock(key, identity, force, requestId, { skipIfLocked: false })
  }

  /**
   * Becomes the issuer for this user, or waits for the current one. A waiter returns the
   * issuer's token as soon as it appears in the store; if the lock vanishes without a token
   * (issuer failed or died), it tries to take the lock itself; when the wait would leave too
   * little time for its own Nexconn call, it issues without the lock.
   */
  async #issueWithLock (key: string, identity: Identity, force: boolean, requestId: string | undefined, options: { skipIfLocked: boolean }): Promise<TokenResult> {
    const startedAt = this.#now()
    const waitUntil = startedAt + Math.max(0, this.#options.deadlineMs - this.#options.attemptMs)
    let lock = await this.#safely(async () => await this.#options.store.lock(key, LOCK_LEASE_MS), null)
    if (lock === undefined && options.skipIfLocked) {
      const current = await this.#safely(async () => await this.#options.store.get(key), undefined)
      if (current !== undefined) return { token: current, outcome: 'store_hit' }
    }
    while (lock === undefined && this.#now() < waitUntil) {
      await sleep(LOCK_POLL_MS)
      const stored = await this.#safely(async () => await this.#options.store.get(key), undefined)
      if (stored !== undefined && this.#usable(key, stored) && (!force || stored.issuedAt >= startedAt)) {
        this.#remember(key, stored)
        return { token: stored, outcome: 'waited' }
      }
      const locked = await this.#safely(async () => await this.#options.store.isLocked(key), false)
      if (!locked) lock = await this.#safely(async () => await this.#options.store.lock(key, LOCK_LEASE_MS), null)
    }
    // `null`: the store is unavailable, so there is no cross-replica lock to hold.
    const held = typeof lock === 'string' ? lock : undefined
    const lease = held === undefined ? undefined : this.#keepLease(key, held)
    try {
      const token = await this.#issue(key, identity, force, requestId, startedAt)
      return { token, outcome: force ? 'refreshed' : 'issued' }
    } finally {
      if (lease !== undefined) clearInterval(lease)
      if (held !== undefined) await this.#safely(async () => { await this.#options.store.unlock(key, held) }, undefined)
    }
  }

  #keepLease (key: string, value: string): NodeJS.Timeout {
    const timer = setInterval(() => {
      void this.#safely(async () => await this.#options.store.extendLock(key, value, LOCK_LEASE_MS), false)
    }, LOCK_LEASE_MS / 2)
    timer.unref()
    return timer
  }

  /** One Nexconn issue, stored unless a revocation overtook it (then issued once more). */
  async #issue (key: string, identity: Identity, force: boolean, requestId: string | undefined, startedAt: number): Promise<CachedToken> {
    for (let attempt = 0; ; attempt++) {
      const issuedAt = this.#now()
      const remaining = this.#options.deadlineMs - (issuedAt - startedAt)
      const input = identity.avatarUrl === undefined
        ? { userId: identity.userId, name: identity.name }
        : { userId: identity.userId, name: identity.name, avatarUrl: identity.avatarUrl }
      const issued = await this.#options.nexconn.issueToken(input, {
        ...(requestId === undefined ? {} : { requestId }),
        deadlineMs: Math.max(1, remaining)
      })
      const token: CachedToken = {
        userId: identity.userId,
        token: issued.token,
        issuedAt,
        expiresAt: this.#ttlMs > 0 ? issuedAt + this.#ttlMs : null
      }
      const ttlMs = token.expiresAt === null ? this.#options.cacheMaxAgeS * 1000 : token.expiresAt - issuedAt
      const stored = await this.#safely(async () => await this.#options.store.put(key, token, ttlMs, force), true)
      const revokedMeanwhile = !stored || issuedAt < (this.#cutoffs.get(key) ?? 0)
      if (!revokedMeanwhile) {
        this.#remember(key, token)
        // After a forced refresh, other replicas must drop the token the client reported invalid.
        if (force) await this.#safely(async () => { await this.#options.bus?.publish(key, 0) }, undefined)
        return token
      }
      this.#options.logger.info('token revoked while it was being issued; issuing again')
      if (attempt >= 1) throw new Error('token revoked repeatedly while being issued')
    }
  }

  /** Runs a store operation; on failure answers `fallback` (the store degrades, never fails a request). */
  async #safely<T, F> (operation: () => Promise<T>, fallback: F): Promise<T | F> {
    try {
      return await operation()
    } catch {
      this.#options.hooks?.onStoreError?.()
      return fallback
    }
  }
}
