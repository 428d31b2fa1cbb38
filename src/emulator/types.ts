/**
 * Public contract of the Nexconn Platform API emulator. Other modules (the broker's tests,
 * `npm run dev`, benchmarks) code against these types, so they change only deliberately.
 */
import type { Logger } from 'pino'

export interface EmulatorOptions {
  /** Random (crypto) when omitted. */
  appKey?: string
  /** Random (crypto) when omitted. */
  appSecret?: string
  /** Default '127.0.0.1'. */
  host?: string
  /** Default [0]; several ports = primary/backup domains sharing ONE state. */
  ports?: number[]
  /** Strict signing: timestamp within ±skewMs (default 300000), reused nonce rejected, uppercase hex rejected. */
  strict?: boolean | { skewMs?: number }
  /**
   * Requests per second per App Key, keyed by endpoint path. `Infinity` = unlimited, 0 = reject everything.
   * Defaults come from the API document (see DEFAULT_RATE_LIMITS).
   */
  rateLimits?: Partial<Record<string, number>>
  /** Registered-user cap → business code 2007 (default: unlimited). */
  maxUsers?: number
  /** Console token lifetime; 0/undefined = permanent. */
  tokenTtlMs?: number
  /** Add a Retry-After header to 429s (undocumented upstream; default false). */
  retryAfterOn429?: boolean
  /** Legacy variant: business errors answered with HTTP 200 + non-zero code; default false = mapped statuses. */
  errorsWithHttp200?: boolean
  /**
   * How an issue for a soft-deleted user is answered. Nexconn documents that such a user "can no
   * longer obtain access tokens" but not the code or status: the default (HTTP 403, code 99403) is a
   * placeholder, so tests can try every plausible variant.
   */
  softDeletedAnswer?: { code: number; status: number }
  /** Library mode logs nothing unless given a logger. */
  logger?: Logger
}

export type FaultKind =
  | 'latency'
  | 'status'
  | 'rate_limit'
  | 'hang'
  | 'drip'
  | 'malformed'
  | 'reset'
  | 'wrong_user'
  | 'business_error'

export interface FaultSpec {
  /** Path like '/v4/auth/access-token/issue', or '*' (default '*'). */
  endpoint?: string
  /** Index into urls (0 = primary, 1 = backup); omitted = every port. */
  port?: number
  kind: FaultKind
  /** latency: added delay (default 1000); drip: delay between bytes (default 100). */
  ms?: number
  /** kind 'status': HTTP status 500..599 (default 503); kind 'business_error': any 200..599 (default: the code's usual one). */
  status?: number
  /** kind 'business_error': business code (default 1000), answered with its mapped HTTP status unless `status` is given. */
  code?: number
  /** Only requests whose body names this userId (a per-user answer); omitted = every request. */
  userId?: string
  /** Apply to the next N matching requests only, then expire (default: until cleared). */
  times?: number
}

export interface EmulatorStats {
  /** Per endpoint path: every request that reached an endpoint, including rejected and faulted ones. */
  calls: Record<string, number>
  succeeded: Record<string, number>
  /** Successful token issues per userId. */
  callsByUser: Record<string, number>
  /** Max calls to an endpoint within one wall-clock second (fixed 1 s buckets). */
  peakPerSecond: Record<string, number>
  /** Max calls to an endpoint within any sliding 1000 ms window. */
  peakSliding: Record<string, number>
  /** Requests received per port index (control calls excluded). */
  byPort: number[]
  registeredUsers: number
  /** By business code, e.g. {"1004": 3, "1008": 10}. */
  rejected: Record<string, number>
}

export interface RecordedRequest {
  port: number
  method: string
  path: string
  headers: Record<string, string>
  body: string
  /** 0 when no response was sent (hang, reset). */
  status: number
  code: number | null
  at: number
}

export type TokenStatus = { valid: boolean; userId?: string; reason?: 'unknown' | 'expired' | 'revoked' | 'soft_deleted' }

export interface UserProfile {
  name: string
  avatarUrl?: string
  createdAt: string
}

export interface Emulator {
  readonly urls: string[]
  readonly appKey: string
  readonly appSecret: string
  stats(): EmulatorStats
  requests(): RecordedRequest[]
  reset(): void
  addFault(f: FaultSpec): void
  clearFaults(): void
  tokenStatus(token: string): TokenStatus
  user(userId: string): UserProfile | undefined
  pause(portIndex: number): Promise<void>
  resume(portIndex: number): Promise<void>
  setAppSecret(secret: string): void
  /** As `/v4/user/soft-delete` does: tokens stop working and none is issued until a restore. */
  softDelete(userIds: string[]): void
  restore(userIds: string[]): void
  close(): Promise<void>
}
