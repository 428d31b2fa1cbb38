/**
 * The token provider: the client half of the broker's flow. One request at a time however many
 * callers ask, the token kept in memory only (never in storage a script or another app could
 * read) and reused until shortly before it expires, a forced refresh when the chat SDK reports
 * the token invalid (31004) at most once per broker-allowed interval, and retries decided by the
 * broker's error codes (see policy.ts).
 */
import type { TokenResponse } from './api.generated.ts'
import { backoffDelay, retryPolicy, type RetryOptions } from './backoff.ts'
import { abortedError, isTokenProviderError, TokenProviderError } from './errors.ts'
import { requestToken, tokenUrl, type FetchLike } from './exchange.ts'
import { actionFor } from './policy.ts'

/** Returns the app's own JWT for the signed-in user, a fresh one when `forceRefresh`; nullish when nobody is signed in. */
export type AppJwtSource = (options: { forceRefresh: boolean }) => string | null | undefined | Promise<string | null | undefined>

export interface TokenProviderOptions {
  /** Where the broker is, e.g. `https://chat-broker.example.com` (a path prefix is kept). */
  brokerUrl: string
  getAppJwt: AppJwtSource
  /** Called once the broker refused the JWT and a fresh one from `getAppJwt({ forceRefresh: true })` too. */
  onSignInRequired?: (error: TokenProviderError) => void
  /** Default: the global `fetch`, looked up at each request. */
  fetch?: FetchLike
  retry?: RetryOptions
  /** A token is renewed this long before its `expiresAt` (default 30 s, under the broker's own minimum of 60 s). */
  expiryMarginMs?: number
  /** The broker honours `forceRefresh` once per this interval per user (default 30 s, as the broker does). */
  forceRefreshIntervalMs?: number
  /** Deadline of one request, answer body included (default 15 s, above the broker's 8 s Nexconn deadline). */
  timeoutMs?: number
  /** Clock, timer and randomness, replaceable for tests and unusual runtimes. */
  now?: () => number
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  random?: () => number
}

export type TokenState =
  | { status: 'idle' }
  | { status: 'fetching', attempt: number }
  | { status: 'retrying', error: TokenProviderError, attempt: number, delayMs: number }
  | { status: 'ready', token: TokenResponse }
  | { status: 'error', error: TokenProviderError }
  | { status: 'signed_out', error: TokenProviderError }

export interface TokenProvider {
  /** The current token, from memory while fresh, otherwise from the broker (one request for all concurrent callers). */
  getToken: () => Promise<TokenResponse>
  /**
   * The chat SDK refused `token` (connect error 31004; default: the current token). Asks the
   * broker for a new one with `forceRefresh`, at most once per `forceRefreshIntervalMs`; within
   * that interval it rejects with `refresh_throttled` (and `retryAfterMs`) instead of asking again.
   */
  onInvalidToken: (token?: string) => Promise<TokenResponse>
  /** Sign-out: forgets the token and cancels what is under way (its callers get `aborted`). */
  clear: () => void
  /** Calls `listener` now and on every change; returns the unsubscribe function. */
  subscribe: (listener: (state: TokenState) => void) => () => void
  readonly state: TokenState
}

const DEFAULT_EXPIRY_MARGIN_MS = 30_000
const DEFAULT_FORCE_REFRESH_INTERVAL_MS = 30_000
const DEFAULT_TIMEOUT_MS = 15_000
/** A token is reused at least this long, so a device clock running ahead cannot turn every call into a request. */
const MIN_REUSE_MS = 5_000

interface Flight {
  forced: boolean
  controller: AbortController
  promise: Promise<TokenResponse>
}

async function defaultSleep (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** An app callback that throws is reported like an event listener's error, without breaking the provider. */
function report (err: unknown): void {
  queueMicrotask(() => { throw err })
}

function nonNegative (name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!(Number.isFinite(value) && value >= 0)) throw new TypeError(`${name} must be a number ≥ 0`)
  return value
}

export function createTokenProvider (options: TokenProviderOptions): TokenProvider {
  const url = tokenUrl(options.brokerUrl)
  if (typeof options.getAppJwt !== 'function') throw new TypeError('getAppJwt must be a function')
  const retry = retryPolicy(options.retry)
  const expiryMarginMs = nonNegative('expiryMarginMs', options.expiryMarginMs, DEFAULT_EXPIRY_MARGIN_MS)
  const forceRefreshIntervalMs = nonNegative('forceRefreshIntervalMs', options.forceRefreshIntervalMs, DEFAULT_FORCE_REFRESH_INTERVAL_MS)
  const timeoutMs = nonNegative('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS)
  // Looked up per request, so a fetch polyfill installed after this call is used, and called
  // with globalThis as `this` (browsers throw "Illegal invocation" otherwise).
  const fetchFn: FetchLike = options.fetch ?? (async (input, init) => await globalThis.fetch(input, init))
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? defaultSleep
  const random = options.random ?? Math.random

  let current: { token: TokenResponse, freshUntil: number } | undefined
  let flight: Flight | undefined
  /** After a final error with Retry-After, new requests wait that long: no storm from callers that retry in a loop. */
  let blocked: { until: number, error: TokenProviderError } | undefined
  let lastForcedAt: number | undefined
  let invalidation: Promise<TokenResponse> | undefined
  /** Bumped by clear(): work started before it must not touch the state after it. */
  let generation = 0
  let state: TokenState = { status: 'idle' }
  const listeners = new Set<(state: TokenState) => void>()

  function emit (next: TokenState): void {
    state = next
    for (const listener of [...listeners]) {
      try { listener(next) } catch (err) { report(err) }
    }
  }

  function freshUntil (expiresAt: string | null, receivedAt: number): number {
    if (expiresAt === null) return Infinity
    const expires = Date.parse(expiresAt)
    // Never more than half the remaining life, so a token fetched late is still used for a while.
    const margin = Math.max(0, Math.min(expiryMarginMs, (expires - receivedAt) / 2))
    return Math.max(expires - margin, receivedAt + MIN_REUSE_MS)
  }

  function freshToken (): TokenResponse | undefined {
    return current !== undefined && now() < current.freshUntil ? current.token : undefined
  }

  async function appJwt (forceRefresh: boolean): Promise<string | null | undefined> {
    try {
      return await options.getAppJwt({ forceRefresh })
    } catch (err) {
      throw new TokenProviderError('app_jwt_error', 'getAppJwt failed to provide the app\'s JWT.', { cause: err })
    }
  }

  async function fetchWithRetries (forced: boolean, signal: AbortSignal): Promise<TokenResponse> {
    let jwt = await appJwt(false)
    let reauthenticated = false
    let retries = 0
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw abortedError()
      emit({ status: 'fetching', attempt })
      try {
        if (jwt === null || jwt === undefined || jwt === '') {
          throw new TokenProviderError('missing_token', 'The app has no JWT for this user: sign in first.')
        }
        return await requestToken({ fetch: fetchFn, url, jwt, forceRefresh: forced, timeoutMs, signal, now })
      } catch (err) {
        if (!isTokenProviderError(err)) throw err
        if (signal.aborted) throw abortedError()
        const action = actionFor(err)
        if (action === 'reauthenticate' && !reauthenticated) {
          reauthenticated = true
          jwt = await appJwt(true)
          continue
        }
        if (action === 'back_off' && retries + 1 < retry.maxAttempts) {
          const delayMs = backoffDelay(retries + 1, retry, random, err.retryAfterMs)
          if (delayMs !== undefined) {
            retries++
            emit({ status: 'retrying', error: err, attempt, delayMs })
            await sleep(delayMs, signal)
            continue
          }
        }
        throw err
      }
    }
  }

  function accept (token: TokenResponse): void {
    current = { token, freshUntil: freshUntil(token.expiresAt, now()) }
    blocked = undefined
    emit({ status: 'ready', token })
  }

  function fail (error: TokenProviderError): void {
    if (actionFor(error) === 'reauthenticate') {
      current = undefined
      emit({ status: 'signed_out', error })
      try { options.onSignInRequired?.(error) } catch (err) { report(err) }
      return
    }
    if (error.retryAfterMs !== undefined) blocked = { until: now() + error.retryAfterMs, error }
    emit({ status: 'error', error })
  }

  async function startFlight (forced: boolean): Promise<TokenResponse> {
    if (blocked !== undefined && now() < blocked.until) throw blocked.error
    const controller = new AbortController()
    const entry: Flight = { forced, controller, promise: fetchWithRetries(forced, controller.signal) }
    entry.promise = entry.promise.then((token) => {
      if (controller.signal.aborted) throw abortedError()
      flight = undefined
      accept(token)
      return token
    }, (err: unknown) => {
      const error = isTokenProviderError(err) ? err : new TokenProviderError('unexpected_response', 'The token request failed.', { cause: err })
      if (controller.signal.aborted) throw abortedError()
      flight = undefined
      fail(error)
      throw error
    })
    flight = entry
    return await entry.promise
  }

  async function getToken (): Promise<TokenResponse> {
    const token = freshToken()
    if (token !== undefined) return token
    return await (flight?.promise ?? startFlight(false))
  }

  async function forceRefresh (bad: string | undefined): Promise<TokenResponse> {
    const started = generation
    // A plain request under way may bring the same bad token back: let it land first.
    if (flight !== undefined) await flight.promise.catch(() => undefined)
    if (generation !== started) throw abortedError()
    if (current !== undefined && current.token.token !== bad) return current.token
    lastForcedAt = now()
    current = undefined
    const token = await startFlight(true)
    if (token.token === bad) {
      // The broker refreshed this user's token less than its interval ago (maybe for another device).
      throw new TokenProviderError('refresh_throttled', 'The broker returned the same token; ask again later.', { retryAfterMs: forceRefreshIntervalMs })
    }
    return token
  }

  async function onInvalidToken (reported?: string): Promise<TokenResponse> {
    if (invalidation !== undefined) return await invalidation
    if (flight?.forced === true) return await flight.promise
    const bad = reported ?? current?.token.token
    // A report about a token already replaced: the current one is the answer.
    if (bad === undefined || (current !== undefined && current.token.token !== bad)) return await getToken()
    const sinceForced = lastForcedAt === undefined ? Infinity : now() - lastForcedAt
    if (sinceForced < forceRefreshIntervalMs) {
      // A second 31004 right after a refresh: the broker would answer with the same token. No loop.
      throw new TokenProviderError('refresh_throttled', 'The chat server refused a token that was just refreshed; ask again later.', { retryAfterMs: forceRefreshIntervalMs - sinceForced })
    }
    const pending = forceRefresh(bad)
    invalidation = pending
    const done = (): void => { if (invalidation === pending) invalidation = undefined }
    pending.then(done, done)
    return await pending
  }

  function clear (): void {
    generation++
    flight?.controller.abort()
    flight = undefined
    current = undefined
    blocked = undefined
    lastForcedAt = undefined
    invalidation = undefined
    emit({ status: 'idle' })
  }

  function subscribe (listener: (state: TokenState) => void): () => void {
    listeners.add(listener)
    try { listener(state) } catch (err) { report(err) }
    return () => { listeners.delete(listener) }
  }

  return {
    getToken,
    onInvalidToken,
    clear,
    subscribe,
    get state () { return state }
  }
}
