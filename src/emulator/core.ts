/**
 * Everything the ports share: one app (key and secret), its data, limits, faults and statistics.
 * Primary and backup listeners both hand their requests to the same Core.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino, type Logger } from 'pino'
import { FaultStore } from './faults.ts'
import { SlidingWindowLimiter } from './rate-limit.ts'
import { DEFAULT_SKEW_MS, NonceMemory, type SignatureConfig } from './signature.ts'
import { DEFAULT_SOFT_DELETED_ANSWER, EmulatorState } from './state.ts'
import { StatsRecorder } from './stats.ts'
import type { EmulatorOptions } from './types.ts'

export interface Core {
  readonly appKey: string
  appSecret: string
  readonly state: EmulatorState
  readonly stats: StatsRecorder
  readonly faults: FaultStore
  readonly limiter: SlidingWindowLimiter
  readonly nonces: NonceMemory
  readonly signature: SignatureConfig
  readonly errorsWithHttp200: boolean
  readonly retryAfterOn429: boolean
  readonly logger: Logger
  /** Aborted by close(): ends latency waits and drips so nothing outlives the emulator. */
  readonly lifetime: AbortController
  /** Waits `ms`; resolves false instead if the emulator closed meanwhile. */
  delay(ms: number): Promise<boolean>
  /** Console secret rotation: new signatures need `secret`, and every token issued so far is invalid. */
  setAppSecret(secret: string): void
  /** Forgets data, stats, faults and limiter windows (not the key or the current secret). */
  reset(): void
}

/** Random credentials look like the console's: an App Key of 14 and a secret of 14 alphanumerics. */
function randomCredential (length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
  return Array.from(randomBytes(length), (b) => alphabet[b % alphabet.length]).join('')
}

/** undefined = unlimited; 0 is honoured literally (every new user refused), handy for 2007 tests. */
function userCap (value: number | undefined): number {
  if (value === undefined) return Infinity
  if (!(value >= 0)) throw new TypeError('maxUsers must be a number >= 0')
  return value
}

function softDeletedAnswer (value: EmulatorOptions['softDeletedAnswer']): { code: number, status: number } {
  if (value === undefined) return DEFAULT_SOFT_DELETED_ANSWER
  if (!Number.isSafeInteger(value.code) || value.code === 0 || value.code === 200) throw new TypeError('softDeletedAnswer.code must be an error code')
  if (!Number.isSafeInteger(value.status) || value.status < 200 || value.status > 599) throw new TypeError('softDeletedAnswer.status must be an HTTP status')
  return value
}

export function createCore (opts: EmulatorOptions, portCount: number): Core {
  const strict = opts.strict === true ? {} : opts.strict || undefined
  const skewMs = strict?.skewMs ?? DEFAULT_SKEW_MS
  if (!(skewMs >= 0)) throw new TypeError('strict.skewMs must be >= 0')
  const tokenTtlMs = opts.tokenTtlMs ?? 0
  if (!(tokenTtlMs >= 0)) throw new TypeError('tokenTtlMs must be >= 0')
  if (opts.appKey === '' || opts.appSecret === '') throw new TypeError('appKey and appSecret must not be empty')

  const appKey = opts.appKey ?? randomCredential(14)
  const nonces = new NonceMemory(skewMs)
  const lifetime = new AbortController()
  const core: Core = {
    appKey,
    appSecret: opts.appSecret ?? randomCredential(14),
    state: new EmulatorState({ maxUsers: userCap(opts.maxUsers), tokenTtlMs, softDeletedAnswer: softDeletedAnswer(opts.softDeletedAnswer) }),
    stats: new StatsRecorder(portCount),
    faults: new FaultStore(),
    limiter: new SlidingWindowLimiter(opts.rateLimits),
    nonces,
    signature: {
      appKey,
      appSecret: () => core.appSecret,
      strict: strict ? { skewMs } : undefined,
      rememberNonce: (nonce, now) => nonces.remember(nonce, now),
    },
    errorsWithHttp200: opts.errorsWithHttp200 ?? false,
    retryAfterOn429: opts.retryAfterOn429 ?? false,
    logger: opts.logger ?? pino({ level: 'silent' }),
    lifetime,
    async delay (ms) {
      try {
        await sleep(ms, undefined, { signal: lifetime.signal })
        return true
      } catch {
        return false
      }
    },
    setAppSecret (secret) {
      if (typeof secret !== 'string' || secret === '') throw new TypeError('secret must be a non-empty string')
      core.appSecret = secret
      core.state.rotateSecret()
    },
    reset () {
      core.state.clear()
      core.stats.clear()
      core.faults.clear()
      core.limiter.clear()
      core.nonces.clear()
    },
  }
  return core
}
