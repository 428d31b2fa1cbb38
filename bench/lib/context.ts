/**
 * What every scenario receives: the sizes of this run (full or smoke), the JWT keys, and how to
 * build a broker's environment — the production variables, pointed at this run's emulator and Redis.
 */
import { randomBytes } from 'node:crypto'
import { jwtEnv, type Algorithm, type JwtKeys } from './jwt.ts'
import type { EmulatorProcess, RedisProcess } from './processes.ts'

export interface Sizes {
  /** Hit path and Redis-down: distinct users, each with its own JWT. */
  hitUsers: number
  connections: number
  /** Measured rounds per target, alternated broker / reference. */
  rounds: number
  roundS: number
  /** Warm-up: every user this many times, on each target, before measuring. */
  warmupPasses: number
  /** Hit path warm-up, on each target, in seconds of closed-loop load. */
  warmupS: number
  coldUsers: number
  herdRequests: number
  herdBrokers: number
  memoryUsers: number
  /** The second memory figure: users served in all, the in-process cache bounded by its setting. */
  memoryUsersLarge: number
}

export const FULL: Sizes = {
  hitUsers: 10_000,
  connections: 100,
  rounds: 3,
  roundS: 10,
  warmupPasses: 2,
  warmupS: 8,
  coldUsers: 2_000,
  herdRequests: 1_000,
  herdBrokers: 3,
  memoryUsers: 100_000,
  memoryUsersLarge: 1_000_000
}

export const SMOKE: Sizes = {
  hitUsers: 300,
  connections: 20,
  rounds: 1,
  roundS: 2,
  warmupPasses: 2,
  warmupS: 1,
  coldUsers: 300,
  herdRequests: 60,
  herdBrokers: 3,
  memoryUsers: 3_000,
  memoryUsersLarge: 6_000
}

/** Nexconn's quota on token issues per App Key, enforced by the emulator (its default). */
export const ISSUE_QUOTA_PER_S = 200
export const ISSUE_ENDPOINT = '/v4/auth/access-token/issue'

export interface BenchContext {
  sizes: Sizes
  smoke: boolean
  keys: JwtKeys
  /** TOKEN_ENCRYPTION_KEY shared by every broker and the seeder. */
  encryptionKey: string
  /** Set with --profile: brokers write V8 CPU profiles here. */
  profileDir: string | undefined
}

export function newEncryptionKey (): string {
  return randomBytes(32).toString('base64')
}

export interface BrokerEnvOptions {
  emulator: EmulatorProcess
  redis: RedisProcess | undefined
  algorithm: Algorithm
  extra?: Record<string, string>
}

/**
 * Production settings, except: loopback URLs, `LOG_LEVEL=warn` (a request log line per token would
 * measure the terminal), and the per-user rate limit off (the load sends each user far more
 * requests per minute than a real client would).
 */
export function brokerEnv (ctx: BenchContext, options: BrokerEnvOptions): Record<string, string> {
  return {
    NEXCONN_APP_KEY: options.emulator.appKey,
    NEXCONN_APP_SECRET: options.emulator.appSecret,
    NEXCONN_API_URLS: options.emulator.url,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '0',
    ...jwtEnv(options.algorithm, ctx.keys),
    ...(options.redis === undefined ? {} : { REDIS_URL: options.redis.url, TOKEN_ENCRYPTION_KEY: ctx.encryptionKey }),
    ...options.extra
  }
}
