/**
 * Request signing as the platform defines it: hex(SHA1(AppSecret + Nonce + Timestamp)).
 * The signature covers neither method, path nor body, so it is checked from headers alone.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { BusinessError } from './errors.ts'

/** Lowercase hex SHA-1 of secret + nonce + timestamp (UTF-8, no separators). */
export function sign (secret: string, nonce: string, timestamp: string): string {
  return createHash('sha1').update(secret + nonce + timestamp, 'utf8').digest('hex')
}

export const MAX_NONCE_LENGTH = 18
export const DEFAULT_SKEW_MS = 300_000

export interface SignatureConfig {
  appKey: string
  /** Read on every request so a secret rotation takes effect at once. */
  appSecret: () => string
  /** Undefined = lenient (the real server's observed behaviour). */
  strict?: { skewMs: number }
  /** Strict mode's replay memory; returns false when the nonce was already seen. */
  rememberNonce: (nonce: string, now: number) => boolean
}

/** A header by its plain name or its `RC-` alias (some hosts strip unknown headers). */
function header (headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name] ?? headers[`rc-${name}`]
  return Array.isArray(value) ? value[0] : value
}

/** Constant-time equality; differing lengths still cost one comparison. */
function safeEqual (a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8')
  const right = Buffer.from(b, 'utf8')
  if (left.length !== right.length) {
    timingSafeEqual(left, left)
    return false
  }
  return timingSafeEqual(left, right)
}

/**
 * Checks the signing headers; throws BusinessError 1004 (bad signature) or 1001 (unknown App Key).
 * Returns the App Key the request was made for (the rate limiter keys on it).
 */
export function verifySignature (headers: IncomingHttpHeaders, cfg: SignatureConfig, now = Date.now()): string {
  const appKey = header(headers, 'app-key')
  const nonce = header(headers, 'nonce')
  const timestamp = header(headers, 'timestamp')
  const signature = header(headers, 'signature')
  if (!appKey) throw new BusinessError(1004, 'missing App-Key header')
  if (!nonce) throw new BusinessError(1004, 'missing Nonce header')
  if (!timestamp) throw new BusinessError(1004, 'missing Timestamp header')
  if (!signature) throw new BusinessError(1004, 'missing Signature header')
  if (!safeEqual(appKey, cfg.appKey)) throw new BusinessError(1001, 'App Key unknown or not matching the App Secret')
  if (nonce.length > MAX_NONCE_LENGTH) throw new BusinessError(1004, `Nonce longer than ${MAX_NONCE_LENGTH} characters`)
  // Even the lenient server wants a number here; only its range is not checked.
  if (!/^\d+$/.test(timestamp)) throw new BusinessError(1004, 'Timestamp must be decimal milliseconds')
  if (cfg.strict && /[A-F]/.test(signature)) throw new BusinessError(1004, 'Signature must be lowercase hex')

  const expected = sign(cfg.appSecret(), nonce, timestamp)
  if (!safeEqual(signature.toLowerCase(), expected)) throw new BusinessError(1004, 'signature verification failed')

  if (cfg.strict) {
    if (Math.abs(Number(timestamp) - now) > cfg.strict.skewMs) {
      throw new BusinessError(1004, 'Timestamp outside the allowed clock skew')
    }
    // Only authentic requests reach the replay memory, so forged ones cannot burn nonces.
    if (!cfg.rememberNonce(nonce, now)) throw new BusinessError(1004, 'Nonce already used')
  }
  return appKey
}

/**
 * Strict mode's replay memory. A nonce older than twice the skew window can be forgotten: any request
 * replaying it would carry a timestamp the skew check already refuses.
 */
export class NonceMemory {
  #seen = new Map<string, number>()
  #horizonMs: number

  constructor (skewMs: number) {
    this.#horizonMs = 2 * skewMs
  }

  remember (nonce: string, now: number): boolean {
    // Map iteration follows insertion order, i.e. age, so pruning stops at the first young entry.
    for (const [old, seenAt] of this.#seen) {
      if (now - seenAt <= this.#horizonMs) break
      this.#seen.delete(old)
    }
    if (this.#seen.has(nonce)) return false
    this.#seen.set(nonce, now)
    return true
  }

  clear (): void {
    this.#seen.clear()
  }
}
