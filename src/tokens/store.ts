/**
 * Where tokens live between requests. Two implementations share this contract: `MemoryStore`
 * (one instance, no Redis) and `RedisStore` (shared by every replica, encrypted at rest).
 *
 * `userKey` is an opaque, secret-derived name for a user (see `keys.ts`); stores never see a user
 * id in clear, so none reaches Redis.
 */
import { LRUCache } from 'lru-cache'

export interface CachedToken {
  userId: string
  token: string
  /** When the broker asked Nexconn for it (ms epoch). */
  issuedAt: number
  /** `null` when tokens never expire. */
  expiresAt: number | null
}

export interface TokenStore {
  readonly kind: 'memory' | 'redis'
  /** The token, unless absent, undecryptable (deleted and counted) or issued before a revocation. */
  get: (userKey: string) => Promise<CachedToken | undefined>
  /**
   * Stores unless a revocation newer than `token.issuedAt` exists; returns whether it stored.
   * `replaces`: the token supersedes whatever the store holds (a forced or ahead-of-expiry refresh),
   * which matters only when a write kept for later is made (Redis store).
   */
  put: (userKey: string, token: CachedToken, ttlMs: number, replaces?: boolean) => Promise<boolean>
  /** Drops the token and refuses any token issued before `cutoff` from now on. */
  revoke: (userKey: string, cutoff: number, rememberMs: number) => Promise<void>
  /** The latest revocation cutoff, or 0. */
  revokedAt: (userKey: string) => Promise<number>
  /** A lock for issuing; resolves its unique value, or `undefined` if someone else holds it. */
  lock: (userKey: string, ttlMs: number) => Promise<string | undefined>
  /** Extends a held lock; false if it was lost. */
  extendLock: (userKey: string, value: string, ttlMs: number) => Promise<boolean>
  unlock: (userKey: string, value: string) => Promise<void>
  isLocked: (userKey: string) => Promise<boolean>
  /** True the first time in `windowMs` for this user and purpose (forceRefresh throttle). */
  throttle: (userKey: string, windowMs: number) => Promise<boolean>
  /** Another replica invalidated the user at `cutoff` (0: whatever was issued): forget writes kept for later that it covers (Redis store). */
  discardPending?: (userKey: string, cutoff: number) => void
}

const MEMORY_STORE_MAX_USERS = 200_000

/** The single-instance store: bounded, so a flood of distinct users cannot exhaust memory. */
export class MemoryStore implements TokenStore {
  readonly kind = 'memory' as const
  readonly #tokens = new LRUCache<string, CachedToken>({ max: MEMORY_STORE_MAX_USERS, ttlAutopurge: false })
  readonly #revoked = new LRUCache<string, number>({ max: MEMORY_STORE_MAX_USERS })
  readonly #locks = new LRUCache<string, string>({ max: MEMORY_STORE_MAX_USERS })
  readonly #throttles = new LRUCache<string, true>({ max: MEMORY_STORE_MAX_USERS })
  #lockCounter = 0

  async get (userKey: string): Promise<CachedToken | undefined> {
    const token = this.#tokens.get(userKey)
    if (token === undefined || token.issuedAt < (this.#revoked.get(userKey) ?? 0)) return undefined
    return token
  }

  async put (userKey: string, token: CachedToken, ttlMs: number): Promise<boolean> {
    if (token.issuedAt < (this.#revoked.get(userKey) ?? 0)) return false
    this.#tokens.set(userKey, token, { ttl: ttlMs })
    return true
  }

  async revoke (userKey: string, cutoff: number, rememberMs: number): Promise<void> {
    this.#tokens.delete(userKey)
    this.#revoked.set(userKey, Math.max(cutoff, this.#revoked.get(userKey) ?? 0), { ttl: rememberMs })
  }

  async revokedAt (userKey: string): Promise<number> {
    return this.#revoked.get(userKey) ?? 0
  }

  async lock (userKey: string, ttlMs: number): Promise<string | undefined> {
    if (this.#locks.has(userKey)) return undefined
    const value = `local-${++this.#lockCounter}`
    this.#locks.set(userKey, value, { ttl: ttlMs })
    return value
  }

  async extendLock (userKey: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#locks.get(userKey) !== value) return false
    this.#locks.set(userKey, value, { ttl: ttlMs })
    return true
  }

  async unlock (userKey: string, value: string): Promise<void> {
    if (this.#locks.get(userKey) === value) this.#locks.delete(userKey)
  }

  async isLocked (userKey: string): Promise<boolean> {
    return this.#locks.has(userKey)
  }

  async throttle (userKey: string, windowMs: number): Promise<boolean> {
    if (this.#throttles.has(userKey)) return false
    this.#throttles.set(userKey, true, { ttl: windowMs })
    return true
  }
}
