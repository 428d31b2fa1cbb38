/**
 * Per App Key and endpoint rate limiting with a sliding 1000 ms window: the emulator never admits more than
 * the limit within ANY one-second span, which is the strictest reading of "N requests per second" and so
 * the one a client must survive.
 */
import { performance } from 'node:perf_hooks'

/** Figures from the API document; the legacy endpoints share their v4 equivalents' limits. */
export const DEFAULT_RATE_LIMITS: Readonly<Record<string, number>> = {
  '/v4/auth/access-token/issue': 200,
  '/v4/auth/access-token/expire': 100,
  '/v4/user/get': 100,
  '/v4/user/update': 100,
  '/user/getToken.json': 200,
  '/user/token/expire.json': 100,
}

const WINDOW_MS = 1000

export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number }

export class SlidingWindowLimiter {
  #limits: Record<string, number>
  /** Admission instants (monotonic ms) within the last window, oldest first, per "appKey path". */
  #windows = new Map<string, number[]>()
  #now: () => number

  constructor (overrides: Partial<Record<string, number>> = {}, now: () => number = () => performance.now()) {
    this.#limits = { ...DEFAULT_RATE_LIMITS }
    for (const [path, limit] of Object.entries(overrides)) {
      if (limit === undefined) continue
      if (!(limit >= 0)) throw new TypeError(`rateLimits['${path}'] must be a number >= 0 (Infinity = unlimited)`)
      this.#limits[path] = limit
    }
    this.#now = now
  }

  /** Admits the request (and counts it) or says how long until a slot frees up. */
  admit (appKey: string, path: string): Admission {
    const limit = this.#limits[path] ?? Infinity
    if (limit === Infinity) return { admitted: true }
    const now = this.#now()
    const key = `${appKey} ${path}`
    let window = this.#windows.get(key)
    if (!window) {
      window = []
      this.#windows.set(key, window)
    }
    while (window.length > 0 && (window[0] ?? 0) <= now - WINDOW_MS) window.shift()
    if (window.length >= limit) {
      const oldest = window[0] ?? now
      return { admitted: false, retryAfterMs: Math.max(1, oldest + WINDOW_MS - now) }
    }
    window.push(now)
    return { admitted: true }
  }

  clear (): void {
    this.#windows.clear()
  }
}
