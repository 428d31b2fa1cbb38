/**
 * The JWKS key store of one provider: loads the key set from the provider's JWKS URL (configured,
 * or found by OIDC discovery: discovery.ts) and answers "which key checks a token with this `kid`
 * and `alg`?". Keys come only from there, never from a token's `jku`, `x5u`, `jwk` or `iss`.
 *
 * Fetch policy (the shape of nearform/get-jwks, minus its limits):
 * - every fetch has an overall deadline (`timeoutMs`, default 2 s) and one fetch at a time runs
 *   (concurrent callers share it);
 * - a token with an unknown `kid` may trigger a refetch, but request-triggered fetches happen at
 *   most once per `cooldownMs` (30 s), so a flood of random `kid`s costs one fetch; a `kid`
 *   still unknown after a fetch is remembered (negative cache, `negativeTtlMs`, cleared when a
 *   new key set arrives) and answered without waiting;
 * - the last good key set keeps serving while the endpoint fails;
 * - a background timer (unref'd) refreshes every `refreshIntervalMs` (10 min), retries every
 *   `unloadedRetryMs` (5 s) until the first key set is loaded and every `failedRetryMs` (60 s)
 *   after a failed refresh.
 */
import { LRUCache } from 'lru-cache'
import { Agent } from 'undici'
import type { JwtAlgorithm } from '../config.ts'
import type { BrokerError } from '../errors.ts'
import type { JwksLocator } from './discovery.ts'
import { fetchJson, FetchJsonError } from './fetch-json.ts'
import { importJwks, type ImportedKey } from './jwk.ts'
import { invalidToken, keysUnavailable } from './reasons.ts'
import type { AuthHooks, AuthLogger } from './types.ts'

export interface JwksOptions {
  /** Overall deadline of one fetch (connect, headers and body). */
  timeoutMs: number
  maxBytes: number
  cooldownMs: number
  negativeTtlMs: number
  refreshIntervalMs: number
  unloadedRetryMs: number
  failedRetryMs: number
  /** Clock for the cooldown and the negative cache; injectable for tests. */
  now: () => number
}

export const DEFAULT_JWKS_OPTIONS: Readonly<JwksOptions> = {
  timeoutMs: 2000,
  maxBytes: 256 * 1024,
  cooldownMs: 30_000,
  negativeTtlMs: 60_000,
  refreshIntervalMs: 10 * 60_000,
  unloadedRetryMs: 5000,
  failedRetryMs: 60_000,
  now: Date.now
}

export interface KeyEntry {
  kid: string | undefined
  /** The algorithms this key may verify (its `alg` if published, else its type's ∩ the provider's). */
  algorithms: readonly JwtAlgorithm[]
  /** SPKI PEM: what the verifier is given. */
  pem: string
}

interface KeySet {
  byKid: Map<string, KeyEntry>
  all: KeyEntry[]
}

export interface JwksStoreDeps {
  logger: AuthLogger
  hooks: AuthHooks
  /** Called when a refresh removed or replaced a key, so cached verifications are dropped. */
  onKeysRemoved: () => void
}

export class JwksStore {
  readonly #locator: JwksLocator
  #url: URL | undefined
  readonly #pinned: readonly JwtAlgorithm[]
  readonly #options: JwksOptions
  readonly #deps: JwksStoreDeps
  readonly #agent: Agent
  readonly #closing = new AbortController()
  readonly #negative: LRUCache<string, true>
  #keys: KeySet | undefined
  #etag: string | undefined
  #inflight: Promise<void> | undefined
  #lastTriggeredAt = Number.NEGATIVE_INFINITY
  #timer: NodeJS.Timeout | undefined
  #started: Promise<void> | undefined

  constructor (locator: JwksLocator, pinned: readonly JwtAlgorithm[], options: JwksOptions, deps: JwksStoreDeps) {
    this.#locator = locator
    this.#pinned = pinned
    this.#options = options
    this.#deps = deps
    const t = options.timeoutMs
    this.#agent = new Agent({ connect: { timeout: t }, headersTimeout: t, bodyTimeout: t, connections: 2 })
    this.#negative = new LRUCache<string, true>({ max: 10_000, ttl: options.negativeTtlMs, perf: { now: options.now } })
  }

  ready (): boolean {
    return this.#keys !== undefined
  }

  /** Fetches the key set once; resolves when that fetch ends (bounded by its deadline). Never rejects. */
  start (): Promise<void> {
    this.#started ??= this.#refresh()
    return this.#started
  }

  async close (): Promise<void> {
    this.#closing.abort()
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#agent.destroy().catch(() => {})
  }

  /**
   * The key for a token. Throws `invalid_token` (unknown key) or `keys_unavailable` (no key
   * set loaded yet). `kid` is already checked to be a bounded string or undefined.
   */
  async resolve (kid: string | undefined, alg: string): Promise<KeyEntry> {
    if (this.#keys === undefined) {
      await this.#requestTriggeredRefresh()
      if (this.#keys === undefined) throw keysUnavailable()
      return this.#lookup(kid, alg) ?? this.#unknown(kid)
    }
    const known = this.#lookup(kid, alg)
    if (known !== undefined) return known
    // Without a kid there is nothing new to look for; a refetch cannot help.
    if (kid === undefined || this.#negative.has(kid)) throw unknownKey()
    await this.#requestTriggeredRefresh()
    return this.#lookup(kid, alg) ?? this.#unknown(kid)
  }

  #unknown (kid: string | undefined): never {
    if (kid !== undefined) this.#negative.set(kid, true)
    throw unknownKey()
  }

  #lookup (kid: string | undefined, alg: string): KeyEntry | undefined {
    const keys = this.#keys
    if (keys === undefined) return undefined
    // A kid selects its key whatever the alg; the key's own verifier then refuses a wrong alg.
    if (kid !== undefined) return keys.byKid.get(kid)
    // No kid: usable only if exactly one key can verify this algorithm.
    const candidates = keys.all.filter((key) => (key.algorithms as readonly string[]).includes(alg))
    return candidates.length === 1 ? candidates[0] : undefined
  }

  /** Joins the running fetch, or starts one if the cooldown allows; otherwise returns at once. */
  async #requestTriggeredRefresh (): Promise<void> {
    if (this.#inflight !== undefined) return await this.#inflight
    const now = this.#options.now()
    if (now - this.#lastTriggeredAt < this.#options.cooldownMs) return
    this.#lastTriggeredAt = now
    await this.#refresh()
  }

  #refresh (): Promise<void> {
    if (this.#closing.signal.aborted) return Promise.resolve()
    this.#inflight ??= this.#fetchOnce().finally(() => {
      this.#inflight = undefined
    })
    return this.#inflight
  }

  async #fetchOnce (): Promise<void> {
    let outcome: 'ok' | 'error' | 'timeout' | 'not_modified'
    try {
      const fetch = { dispatcher: this.#agent, timeoutMs: this.#options.timeoutMs, maxBytes: this.#options.maxBytes, signal: this.#closing.signal }
      const url = await this.#locator.locate(fetch)
      // A moved key set has no use for the old one's ETag.
      if (this.#url !== undefined && this.#url.href !== url.href) this.#etag = undefined
      this.#url = url
      const result = await fetchJson(url, { ...fetch, etag: this.#keys === undefined ? undefined : this.#etag })
      if (result.kind === 'not_modified') {
        outcome = 'not_modified'
      } else {
        this.#install(result.document, result.etag)
        outcome = 'ok'
      }
    } catch (err) {
      outcome = err instanceof FetchJsonError ? err.reason : 'error'
      // Our own messages only: never a response body or a peer's error text.
      const message = err instanceof Error && (err instanceof FetchJsonError || err.name === 'JwksFormatError') ? err.message : 'unexpected error'
      this.#deps.logger.warn({ module: 'auth', jwks: this.#logUrl(), outcome, keysLoaded: this.ready() }, `JWKS fetch failed: ${message}`)
    }
    this.#emit(outcome)
    this.#schedule(outcome === 'ok' || outcome === 'not_modified')
  }

  #install (document: unknown, etag: string | undefined): void {
    const imported = importJwks(document, this.#pinned)
    const next: KeySet = { byKid: new Map(), all: [] }
    const ignored = imported.ignored
    for (const key of imported.keys) {
      const entry = this.#entry(key)
      next.all.push(entry)
      if (entry.kid !== undefined) next.byKid.set(entry.kid, entry)
    }
    if (next.all.length === 0) {
      const err = new Error(`the JWKS holds no key usable with the algorithms ${this.#pinned.join(',')} (${ignored} ignored); keeping the previous key set`)
      err.name = 'JwksFormatError'
      throw err
    }
    const previous = this.#keys
    this.#keys = next
    this.#etag = etag
    this.#negative.clear()
    if (previous !== undefined && previous.all.some((old) => !next.all.some((key) => key.kid === old.kid && key.pem === old.pem))) {
      this.#deps.onKeysRemoved()
    }
    this.#deps.logger.info({ module: 'auth', jwks: this.#logUrl(), keys: next.all.length, ignored }, 'JWKS loaded')
  }

  #entry (key: ImportedKey): KeyEntry {
    // Keep the entry of an unchanged key: its identity tells the caller nothing changed.
    const same = this.#keys?.all.find((old) => old.kid === key.kid && old.pem === key.pem && sameList(old.algorithms, key.algorithms))
    return same ?? { kid: key.kid, algorithms: key.algorithms, pem: key.pem }
  }

  #schedule (succeeded: boolean): void {
    if (this.#closing.signal.aborted) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    const delay = this.#keys === undefined
      ? this.#options.unloadedRetryMs
      : succeeded ? this.#options.refreshIntervalMs : Math.min(this.#options.failedRetryMs, this.#options.refreshIntervalMs)
    this.#timer = setTimeout(() => { void this.#refresh() }, delay)
    this.#timer.unref()
  }

  #emit (result: 'ok' | 'error' | 'timeout' | 'not_modified'): void {
    try {
      this.#deps.hooks.onJwksFetch?.(result)
    } catch {
      // A metrics hook must never break key loading.
    }
  }

  #logUrl (): string {
    return this.#url === undefined ? this.#locator.label : this.#url.origin + this.#url.pathname
  }
}

function unknownKey (): BrokerError {
  return invalidToken('unknown_key')
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index])
}
