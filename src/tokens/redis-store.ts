/**
 * The shared token store in Redis. Tokens are sealed with `TokenCipher` (the key name is the
 * associated data); revocation cutoffs, locks and forceRefresh throttles sit beside each token
 * under the same hash tag, so one user's keys share a Cluster slot and scripts may touch them
 * together.
 *
 * Redis trouble must not hang a request: the connection fails commands fast (see
 * `redis/client.ts`), and after a failure this store stops calling Redis for `BREAKER_OPEN_MS`
 * (`redis/breaker.ts`), so a frozen Redis costs one command timeout per second, not one per request.
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { RedisBreaker } from '../redis/breaker.ts'
import type { RedisClient } from '../redis/client.ts'
import { userKeys } from '../redis/key-layout.ts'
import type { TokenCipher } from './crypto.ts'
import type { CachedToken, TokenStore } from './store.ts'

export const BREAKER_OPEN_MS = 1_000
/**
 * Writes Redis could not take, kept to be made once it answers again (each kind bounded, the oldest
 * dropped first). Tokens: without this, a one-second hiccup (a timed-out write opens the breaker)
 * leaves every token issued meanwhile out of Redis, and each other replica issues its own at
 * Nexconn. Revocations: a cutoff that never reached Redis leaves the revoked token there, and the
 * other replicas, told by the invalidation log to drop their copies, would read it back.
 */
export const MAX_PENDING_WRITES = 10_000

/** Stores unless a newer revocation exists (checked atomically with the write). */
const PUT_SCRIPT = `
local revoked = redis.call('GET', KEYS[2])
if revoked and tonumber(revoked) > tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

/**
 * A token kept for later (see MAX_PENDING_WRITES), written only where Redis has none: another
 * replica may have written a newer one meanwhile, and a newer revocation refuses it as in PUT. A
 * kept refresh (`replaces`) is written with PUT: what it replaces is the token it was issued to
 * supersede.
 */
const PUT_IF_ABSENT_SCRIPT = `
local revoked = redis.call('GET', KEYS[2])
if revoked and tonumber(revoked) > tonumber(ARGV[3]) then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0`

/**
 * A revocation kept for later: the latest cutoff only. The token is not deleted, since it may have
 * been issued after the cutoff; get() refuses one issued before it.
 */
const CUTOFF_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('SET', KEYS[1], tostring(math.max(current, tonumber(ARGV[1]))), 'PX', ARGV[2])
return 1`

/** Keeps the latest cutoff (never moves it back) and drops the token. */
const REVOKE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local cutoff = math.max(current, tonumber(ARGV[1]))
redis.call('SET', KEYS[2], tostring(cutoff), 'PX', ARGV[2])
redis.call('DEL', KEYS[1])
return 1`

/** Compare-and-delete: only the holder releases its lock. */
const UNLOCK_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

const EXTEND_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

export class StoreUnavailableError extends Error {
  constructor (cause?: unknown) {
    super('redis unavailable', cause === undefined ? undefined : { cause })
    this.name = 'StoreUnavailableError'
  }
}

export interface RedisStoreOptions {
  client: RedisClient
  cipher: TokenCipher
  keyPrefix: string
  logger: Logger
  /** Called when a stored entry fails to decrypt (tampered, moved, unknown key). */
  onDecryptFailure?: () => void
  now?: () => number
}

interface StoredPayload { u: string, t: string, i: number, e: number | null }

export class RedisStore implements TokenStore {
  readonly kind = 'redis' as const
  readonly #client: RedisClient
  readonly #cipher: TokenCipher
  readonly #prefix: string
  readonly #logger: Logger
  readonly #onDecryptFailure: () => void
  readonly #breaker: RedisBreaker
  readonly #now: () => number
  /** userKey → a token whose write failed, and when it expires (see MAX_PENDING_WRITES). */
  readonly #pendingTokens = new Map<string, { token: CachedToken, expiresAt: number, replaces: boolean }>()
  /** userKey → a revocation whose write failed, and until when it must be remembered. */
  readonly #pendingCutoffs = new Map<string, { cutoff: number, rememberUntil: number }>()
  #retry: NodeJS.Timeout | undefined
  #closed = false

  constructor (options: RedisStoreOptions) {
    this.#client = options.client
    this.#cipher = options.cipher
    this.#prefix = options.keyPrefix
    this.#logger = options.logger
    this.#onDecryptFailure = options.onDecryptFailure ?? (() => {})
    this.#now = options.now ?? Date.now
    this.#breaker = new RedisBreaker({
      skipMs: BREAKER_OPEN_MS,
      ...(options.now === undefined ? {} : { now: options.now }),
      onDown: (err) => { this.#logger.debug({ errCode: (err as { code?: string }).code }, 'redis command failed; bypassing redis briefly') }
    })
  }

  /** False while the breaker is open (Redis failed within the last second). */
  healthy (): boolean {
    return this.#breaker.usable()
  }

  tokenKey (userKey: string): string { return userKeys(this.#prefix, userKey).token }
  #revokedKey (userKey: string): string { return userKeys(this.#prefix, userKey).revoked }
  #lockKey (userKey: string): string { return userKeys(this.#prefix, userKey).lock }
  #throttleKey (userKey: string): string { return userKeys(this.#prefix, userKey).throttle }

  async #guard<T> (operation: () => Promise<T>): Promise<T> {
    try {
      return await this.#breaker.run(operation)
    } catch (err) {
      throw new StoreUnavailableError(err)
    }
  }

  async get (userKey: string): Promise<CachedToken | undefined> {
    const tokenKey = this.tokenKey(userKey)
    const [sealed, revoked] = await this.#guard(async () => await this.#client.mget(tokenKey, this.#revokedKey(userKey)))
    if (sealed === null || sealed === undefined) return undefined
    const token = this.#decode(tokenKey, sealed)
    if (token === undefined) {
      this.#onDecryptFailure()
      this.#logger.warn('cached token failed to decrypt; dropped')
      await this.#guard(async () => await this.#client.del(tokenKey)).catch(() => {})
      return undefined
    }
    if (token.issuedAt < Number(revoked ?? 0)) return undefined
    return token
  }

  #decode (tokenKey: string, sealed: string): CachedToken | undefined {
    const plaintext = this.#cipher.open(sealed, tokenKey)
    if (plaintext === undefined) return undefined
    try {
      const payload = JSON.parse(plaintext) as StoredPayload
      if (typeof payload.u !== 'string' || typeof payload.t !== 'string' || typeof payload.i !== 'number') return undefined
      return { userId: payload.u, token: payload.t, issuedAt: payload.i, expiresAt: typeof payload.e === 'number' ? payload.e : null }
    } catch {
      return undefined
    }
  }

  /** False when a newer revocation refused the token; throws StoreUnavailableError, keeping it to write later. */
  async put (userKey: string, token: CachedToken, ttlMs: number, replaces = false): Promise<boolean> {
    const tokenKey = this.tokenKey(userKey)
    const sealed = this.#seal(tokenKey, token)
    let stored: unknown
    try {
      stored = await this.#guard(async () => await this.#client.eval(PUT_SCRIPT, 2, tokenKey, this.#revokedKey(userKey), sealed, Math.max(1, Math.round(ttlMs)), token.issuedAt))
    } catch (err) {
      this.#keep(this.#pendingTokens, userKey, { token, expiresAt: this.#now() + ttlMs, replaces })
      throw err
    }
    const pending = this.#pendingTokens.get(userKey)
    if (pending !== undefined && pending.token.issuedAt <= token.issuedAt) this.#pendingTokens.delete(userKey)
    return stored === 1
  }

  #seal (tokenKey: string, token: CachedToken): string {
    const payload: StoredPayload = { u: token.userId, t: token.token, i: token.issuedAt, e: token.expiresAt }
    return this.#cipher.seal(JSON.stringify(payload), tokenKey)
  }

  /** Throws StoreUnavailableError, keeping the cutoff to write later. */
  async revoke (userKey: string, cutoff: number, rememberMs: number): Promise<void> {
    const pending = this.#pendingTokens.get(userKey)
    if (pending !== undefined && pending.token.issuedAt < cutoff) this.#pendingTokens.delete(userKey)
    try {
      await this.#guard(async () => await this.#client.eval(REVOKE_SCRIPT, 2, this.tokenKey(userKey), this.#revokedKey(userKey), cutoff, Math.round(rememberMs)))
    } catch (err) {
      const earlier = this.#pendingCutoffs.get(userKey)
      this.#keep(this.#pendingCutoffs, userKey, { cutoff: Math.max(cutoff, earlier?.cutoff ?? 0), rememberUntil: this.#now() + rememberMs })
      throw err
    }
  }

  /** Another replica invalidated the user: a token kept here from before that is stale (a logout must not bring it back). */
  discardPending (userKey: string, cutoff: number): void {
    const pending = this.#pendingTokens.get(userKey)
    if (pending !== undefined && (cutoff === 0 || pending.token.issuedAt < cutoff)) this.#pendingTokens.delete(userKey)
  }

  /** Stops writing what was kept for later (the app is closing). */
  close (): void {
    this.#closed = true
    clearTimeout(this.#retry)
  }

  #keep<T> (pending: Map<string, T>, userKey: string, entry: T): void {
    pending.delete(userKey)
    pending.set(userKey, entry)
    if (pending.size > MAX_PENDING_WRITES) pending.delete(pending.keys().next().value!)
    this.#scheduleRetry()
  }

  #scheduleRetry (): void {
    if (this.#retry !== undefined || this.#closed) return
    // Once the breaker lets Redis back in.
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      void this.#writePending()
    }, BREAKER_OPEN_MS)
    this.#retry.unref()
  }

  /**
   * Cutoffs first: a token kept for later must not land before the cutoff that refuses it. An
   * entry is dropped only if it is still the one written (a newer one may have been kept meanwhile).
   */
  async #writePending (): Promise<void> {
    try {
      for (const [userKey, entry] of this.#pendingCutoffs) {
        const rememberMs = entry.rememberUntil - this.#now()
        if (rememberMs > 0) await this.#guard(async () => await this.#client.eval(CUTOFF_SCRIPT, 1, this.#revokedKey(userKey), entry.cutoff, Math.round(rememberMs)))
        if (this.#pendingCutoffs.get(userKey) === entry) this.#pendingCutoffs.delete(userKey)
      }
      let written = 0
      for (const [userKey, entry] of this.#pendingTokens) {
        const ttlMs = entry.expiresAt - this.#now()
        if (ttlMs > 0) {
          const tokenKey = this.tokenKey(userKey)
          const sealed = this.#seal(tokenKey, entry.token)
          const script = entry.replaces ? PUT_SCRIPT : PUT_IF_ABSENT_SCRIPT
          if (await this.#guard(async () => await this.#client.eval(script, 2, tokenKey, this.#revokedKey(userKey), sealed, Math.round(ttlMs), entry.token.issuedAt)) === 1) written++
        }
        if (this.#pendingTokens.get(userKey) === entry) this.#pendingTokens.delete(userKey)
      }
      if (written > 0) this.#logger.info({ tokens: written }, 'tokens issued while Redis was unavailable are now in Redis')
    } catch {
      // Still unavailable: everything not written is kept for the next try.
      this.#scheduleRetry()
    }
  }

  async revokedAt (userKey: string): Promise<number> {
    return Number(await this.#guard(async () => await this.#client.get(this.#revokedKey(userKey))) ?? 0)
  }

  async lock (userKey: string, ttlMs: number): Promise<string | undefined> {
    const value = randomBytes(16).toString('base64url')
    const result = await this.#guard(async () => await this.#client.set(this.#lockKey(userKey), value, 'PX', Math.round(ttlMs), 'NX'))
    return result === 'OK' ? value : undefined
  }

  async extendLock (userKey: string, value: string, ttlMs: number): Promise<boolean> {
    return await this.#guard(async () => await this.#client.eval(EXTEND_SCRIPT, 1, this.#lockKey(userKey), value, Math.round(ttlMs))) === 1
  }

  async unlock (userKey: string, value: string): Promise<void> {
    await this.#guard(async () => await this.#client.eval(UNLOCK_SCRIPT, 1, this.#lockKey(userKey), value))
  }

  async isLocked (userKey: string): Promise<boolean> {
    return await this.#guard(async () => await this.#client.exists(this.#lockKey(userKey))) === 1
  }

  async throttle (userKey: string, windowMs: number): Promise<boolean> {
    return await this.#guard(async () => await this.#client.set(this.#throttleKey(userKey), '1', 'PX', Math.round(windowMs), 'NX')) === 'OK'
  }
}
