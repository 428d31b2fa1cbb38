/**
 * Waiting between attempts: exponential backoff with full jitter, where the server's
 * `Retry-After` is a floor. Full jitter spreads a crowd of clients that failed together (every
 * phone after a broker restart) over the whole window instead of letting them return in step.
 */

export interface RetryOptions {
  /** Attempts per request, the first included (default 4). */
  maxAttempts?: number
  /** The window of the first retry (default 500 ms); it doubles with each retry. */
  baseDelayMs?: number
  /**
   * The longest single wait (default 30 s). When the broker's Retry-After asks for longer, the
   * provider gives up at once with the error (its `retryAfterMs` says when to ask again) rather
   * than hold the caller.
   */
  maxDelayMs?: number
}

export type RetryPolicy = Required<RetryOptions>

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 }

export function retryPolicy (options: RetryOptions = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...options }
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new TypeError('retry.maxAttempts must be an integer ≥ 1')
  if (!(policy.baseDelayMs >= 0)) throw new TypeError('retry.baseDelayMs must be ≥ 0')
  if (!(policy.maxDelayMs >= policy.baseDelayMs)) throw new TypeError('retry.maxDelayMs must be ≥ retry.baseDelayMs')
  return policy
}

/**
 * The wait before retry number `retry` (1 = the first retry), or `undefined` when the server
 * asks for a longer wait than `maxDelayMs` allows (give up; never retry sooner than asked).
 * `random` returns a number in [0, 1).
 */
export function backoffDelay (retry: number, policy: RetryPolicy, random: () => number, retryAfterMs?: number): number | undefined {
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxDelayMs) return undefined
  const window = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1))
  const jittered = Math.floor(random() * window)
  return Math.max(jittered, retryAfterMs ?? 0)
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter (value: string | null, now: number): number | undefined {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
