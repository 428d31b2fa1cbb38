/**
 * Webhook authenticity, as RongCloud (Nexconn's predecessor) signs its callbacks: query parameters
 * appended to the callback URL, `signature = hex(SHA1(AppSecret + nonce + timestamp))`. The names
 * of the parameters are configurable because Nexconn has not documented them.
 *
 * The signature covers neither the body nor the path. What stops a captured callback URL from
 * being replayed with another body is, here, freshness (a short window, little room into the
 * future) and canonical timestamps, and, in the route, the memory of every accepted signature
 * (memory.ts): a signature is accepted for one event only.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

export interface WebhookSignatureOptions {
  appKey: string
  appSecret: string
  nonceParam: string
  timestampParam: string
  signatureParam: string
  maxAgeS: number
}

/** Why a webhook was refused; logged and counted (never the values themselves), not shown to the caller. */
export type WebhookRejection = 'missing_parameter' | 'malformed_parameter' | 'app_key_mismatch' | 'bad_signature' | 'stale' | 'future' | 'replayed'

export type WebhookVerdict = { ok: true } | { ok: false, reason: Exclude<WebhookRejection, 'replayed'> }

/** Timestamps below this are seconds since the epoch, above it milliseconds (1e12 ms is 2001). */
export const SECONDS_BELOW = 1e12
/**
 * How far ahead of our clock a timestamp may be: clock skew between two NTP-synced hosts, not a
 * window. A generous future window would keep a captured URL valid for longer than its age limit.
 */
export const MAX_FUTURE_SKEW_MS = 30_000
const MAX_PARAM_LENGTH = 128
const HEX_SHA1 = /^[0-9a-fA-F]{40}$/
/**
 * Canonical decimal only: no sign, no leading zero. The signature hashes nonce and timestamp
 * concatenated, so a leading zero would let digits move between the two and yield another
 * parameter pair under the same signature.
 */
const CANONICAL_DECIMAL = /^[1-9]\d{0,15}$/

/** A query value as Fastify parses it: a string, an array for a repeated name, or absent. */
function single (query: Record<string, unknown>, name: string): string | undefined | null {
  const value = query[name]
  if (value === undefined) return undefined
  // A repeated parameter is ambiguous: which one was signed? Refuse rather than guess.
  return typeof value === 'string' && value !== '' && value.length <= MAX_PARAM_LENGTH ? value : null
}

/** Epoch milliseconds from a decimal timestamp in seconds or milliseconds. */
export function timestampMs (raw: string): number {
  const value = Number(raw)
  return value < SECONDS_BELOW ? value * 1000 : value
}

/**
 * Checks the query parameters of a webhook call. The signature is checked before freshness, so
 * only a caller who knows the secret learns that its timestamp, rather than its signature, was wrong.
 */
export function verifyWebhook (query: Record<string, unknown>, options: WebhookSignatureOptions, now = Date.now()): WebhookVerdict {
  const nonce = single(query, options.nonceParam)
  const timestamp = single(query, options.timestampParam)
  const signature = single(query, options.signatureParam)
  const appKey = single(query, 'appKey')
  if (nonce === undefined || timestamp === undefined || signature === undefined) return { ok: false, reason: 'missing_parameter' }
  if (nonce === null || timestamp === null || signature === null || appKey === null) return { ok: false, reason: 'malformed_parameter' }
  if (!CANONICAL_DECIMAL.test(timestamp) || !HEX_SHA1.test(signature)) return { ok: false, reason: 'malformed_parameter' }
  // The App Key is public; it is checked so that a callback meant for another app is not taken for ours.
  if (appKey !== undefined && appKey !== options.appKey) return { ok: false, reason: 'app_key_mismatch' }

  // Both sides are 20 raw bytes (the regex above guarantees it), so the comparison is constant time
  // and upper- or lowercase hex is accepted alike.
  const expected = createHash('sha1').update(options.appSecret + nonce + timestamp, 'utf8').digest()
  if (!timingSafeEqual(Buffer.from(signature, 'hex'), expected)) return { ok: false, reason: 'bad_signature' }

  const age = now - timestampMs(timestamp)
  if (age > options.maxAgeS * 1000) return { ok: false, reason: 'stale' }
  if (age < -Math.min(MAX_FUTURE_SKEW_MS, options.maxAgeS * 1000)) return { ok: false, reason: 'future' }
  return { ok: true }
}
