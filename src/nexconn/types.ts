/**
 * The public contract of the Nexconn client: what the REST layer, the token cache and the metrics
 * code program against.
 */
import type { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { NexconnTuning } from './tuning.ts'

export interface IssueTokenInput { userId: string, name: string, avatarUrl?: string }

export interface CallOptions {
  /** Sent as X-Request-ID (≤ 36 characters, sanitized); a UUID when absent. */
  requestId?: string
  /** Caller cancellation: the call rejects with the signal's reason. */
  signal?: AbortSignal
  /** A shorter deadline than the configured one (never longer). */
  deadlineMs?: number
}

export type AttemptOutcome = 'ok' | 'business_error' | 'http_error' | 'timeout' | 'network_error' | 'invalid_response'

export interface NexconnHooks {
  /** `codeLabel`: the business code if the broker knows it, `other` if not, `none` without one (bounded, for metrics). */
  onAttempt?: (e: { endpoint: string, domain: string, outcome: AttemptOutcome, businessCode?: number, codeLabel: string, httpStatus?: number, durationMs: number }) => void
  onQuotaWait?: (e: { endpoint: string, waitedMs: number, admitted: boolean }) => void
  onDomainState?: (e: { domain: string, state: 'healthy' | 'demoted' }) => void
}

export interface NexconnHealth {
  status: 'ok' | 'degraded'
  domains: Array<{ url: string, state: 'healthy' | 'demoted' }>
}

export interface NexconnClient {
  /** Registers or updates the user and returns a new access token for them. */
  issueToken(input: IssueTokenInput, options?: CallOptions): Promise<{ userId: string, token: string }>
  /** Invalidates the users' tokens issued before `expiresAt` (ms); one Nexconn call per 20 users, in sequence. */
  expireTokens(userIds: string[], expiresAt: number, options?: CallOptions): Promise<void>
  updateUser(input: { userId: string, name?: string, avatarUrl?: string }, options?: CallOptions): Promise<void>
  /** Degraded while the last call failed overall or the primary domain is demoted. */
  health(): NexconnHealth
  /** Rejects waiting calls and closes the connection pools. */
  close(): Promise<void>
}

export interface NexconnDeps {
  logger: Logger
  redis?: Redis | Cluster
  redisKeyPrefix?: string
  /** Replicas sharing the App Key; while Redis is unreachable each one uses only its share of a quota. */
  fleetSize?: () => number
  hooks?: NexconnHooks
  now?: () => number
  tuning?: Partial<NexconnTuning>
}
