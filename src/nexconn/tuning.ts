/** Tuning knobs of the Nexconn client, with production defaults; tests shorten some of them. */
import { readFileSync } from 'node:fs'
import type { Config } from '../config.ts'

export const ENDPOINTS = {
  issue: '/v4/auth/access-token/issue',
  expire: '/v4/auth/access-token/expire',
  userUpdate: '/v4/user/update'
} as const

export interface NexconnTuning {
  /** How long a failing domain stays demoted before one call probes it again. */
  coolOffMs: number
  /**
   * Connections per domain. By default as many as the quota can have in flight at once (its largest
   * limit): an admitted call never queues for a socket, so a burst reaches Nexconn when admitted and
   * its slots come free a window later, not a queue's worth later.
   */
  connections: number
  /** Idle time after which a kept-alive connection is closed (the platform asks for < 55 s). */
  keepAliveMs: number
  /** Requests per connection before it is replaced (the platform asks for ≤ 80). */
  maxRequestsPerConnection: number
  connectTimeoutMs: number
  maxBodyBytes: number
  /** Attempts per call across domains on domain failures (a 429 retry is not counted). */
  maxAttempts: number
  /** Pause before going round the domains a second time. */
  roundPauseMs: number
  /** Requests per `windowMs` per endpoint and App Key. */
  limits: Record<string, number>
  defaultLimit: number
  /** Nexconn's rate window. */
  windowMs: number
  /**
   * Added to the window. A slot is reused a window after its call was *answered*, and a call
   * arrives before it is answered, so network and server delays are already on the safe side;
   * what is left is rounding: admission and release times are whole milliseconds (Redis TIME or
   * Date.now(), floored) and Nexconn's window may be measured the same way — two requests
   * 999.x ms apart must never count as a window apart. One millisecond per rounded clock.
   */
  windowMarginMs: number
  maxQueue: number
  /** Least time worth starting an attempt with; a quota waiter gives up when less remains. */
  minAttemptMs: number
  /** Back-off after a 429 / 1008 without Retry-After. */
  rateLimitBackoffMs: number
  redisTimeoutMs: number
  redisRetryMs: number
  redisPollMs: number
  userAgent: string
}

export const DEFAULT_LIMITS: Readonly<Record<string, number>> = {
  [ENDPOINTS.issue]: 200,
  [ENDPOINTS.expire]: 100,
  [ENDPOINTS.userUpdate]: 100,
  '/v4/user/get': 100
}

export const EXPIRE_BATCH_SIZE = 20

export function defaultTuning (config: Config['nexconn']): NexconnTuning {
  return {
    coolOffMs: 30_000,
    connections: Math.max(...Object.values(DEFAULT_LIMITS)),
    keepAliveMs: 50_000,
    maxRequestsPerConnection: 80,
    connectTimeoutMs: Math.min(config.timeoutMs, 5_000),
    maxBodyBytes: 64 * 1024,
    maxAttempts: 4,
    roundPauseMs: 100,
    limits: { ...DEFAULT_LIMITS },
    defaultLimit: 100,
    windowMs: 1000,
    windowMarginMs: 2,
    maxQueue: 10_000,
    minAttemptMs: Math.min(200, Math.floor(config.timeoutMs / 2)),
    rateLimitBackoffMs: 1000,
    redisTimeoutMs: 250,
    redisRetryMs: 5_000,
    redisPollMs: 50,
    userAgent: `chat-token-broker/${packageVersion()}`
  }
}

function packageVersion (): string {
  try {
    // src/nexconn/ and dist/nexconn/ are both two levels below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
  } catch {
    return '0.0.0'
  }
}
