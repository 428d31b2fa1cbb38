/**
 * Turning an HTTP answer into a decision. Business code first (it is the precise signal, and
 * legacy servers send errors with HTTP 200), then the HTTP status. Nothing from an upstream body is
 * ever copied into an error message.
 */
import type { NexconnFailure } from '../errors.ts'

export type Classified =
  /** `code` 0 (v4) or 200 (legacy) with HTTP 2xx: the body, for the endpoint's own validation. */
  | { kind: 'ok', body: Record<string, unknown>, businessCode: number, httpStatus: number }
  /** Nexconn refused this request; another domain would refuse it too. Not retried. */
  | { kind: 'rejected', reason: NexconnFailure, businessCode: number | undefined, httpStatus: number }
  /** 429 or 1008: the quota logic backs off and may retry once. */
  | { kind: 'rate_limited', businessCode: number | undefined, httpStatus: number, retryAfterMs: number | undefined }
  /** This domain gave no usable answer: fail over. */
  | { kind: 'domain_failure', outcome: 'business_error' | 'http_error' | 'invalid_response', businessCode: number | undefined, httpStatus: number }

const REJECTIONS: Record<number, NexconnFailure> = {
  400: 'bad_parameter',
  1001: 'credentials',
  1002: 'bad_parameter',
  1004: 'credentials',
  1005: 'bad_parameter',
  1006: 'credentials',
  1007: 'credentials',
  1009: 'not_enabled',
  2007: 'user_limit'
}
/** Server-side trouble reported in the body ("internal logic error", "internal service timeout"). */
const SERVER_ERRORS = new Set([1000, 1050])
const RATE_LIMITED = 1008

export const SUCCESS_CODES = new Set([0, 200])

export function classify (status: number, rawBody: string, retryAfter: string | undefined, nowMs: number): Classified {
  const body = parseObject(rawBody)
  const code = body === undefined ? undefined : businessCode(body.code)
  const retryAfterMs = parseRetryAfter(retryAfter, nowMs)

  if (code !== undefined) {
    if (SUCCESS_CODES.has(code)) {
      return status >= 200 && status < 300 && body !== undefined
        ? { kind: 'ok', body, businessCode: code, httpStatus: status }
        : { kind: 'domain_failure', outcome: 'http_error', businessCode: code, httpStatus: status }
    }
    if (code === RATE_LIMITED) return { kind: 'rate_limited', businessCode: code, httpStatus: status, retryAfterMs }
    const reason = REJECTIONS[code]
    if (reason !== undefined) return { kind: 'rejected', reason, businessCode: code, httpStatus: status }
    if (SERVER_ERRORS.has(code)) return { kind: 'domain_failure', outcome: 'business_error', businessCode: code, httpStatus: status }
  }

  // No known business code: the HTTP status decides.
  if (status === 429) return { kind: 'rate_limited', businessCode: code, httpStatus: status, retryAfterMs }
  // 430 is Nexconn's own non-standard "service not enabled"; no proxy invents it.
  if (status === 430) return { kind: 'rejected', reason: 'not_enabled', businessCode: code, httpStatus: status }
  if (code !== undefined) {
    // A JSON error in the platform's shape with a code we do not know: trust the status class.
    if (status === 400) return { kind: 'rejected', reason: 'bad_parameter', businessCode: code, httpStatus: status }
    if (status === 401 || status === 403) return { kind: 'rejected', reason: 'credentials', businessCode: code, httpStatus: status }
    if (status >= 200 && status < 300) return { kind: 'domain_failure', outcome: 'invalid_response', businessCode: code, httpStatus: status }
    return { kind: 'domain_failure', outcome: 'business_error', businessCode: code, httpStatus: status }
  }
  // Not the platform's JSON at all: a proxy's error page, a truncated body, an unexpected status.
  return {
    kind: 'domain_failure',
    outcome: status >= 200 && status < 300 ? 'invalid_response' : 'http_error',
    businessCode: undefined,
    httpStatus: status
  }
}

function parseObject (raw: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** An integer code, also when a legacy server sends it as a numeric string. */
function businessCode (value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value
  if (typeof value === 'string' && /^-?\d{1,9}$/.test(value)) return Number(value)
  return undefined
}

export const MAX_RETRY_AFTER_MS = 60_000

/** `Retry-After` as delta-seconds or an HTTP date, capped; undefined when absent or unusable. */
export function parseRetryAfter (value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  let ms: number
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    ms = Number(trimmed) * 1000
  } else {
    const at = Date.parse(trimmed)
    if (Number.isNaN(at)) return undefined
    ms = at - nowMs
  }
  return Math.min(Math.max(0, Math.ceil(ms)), MAX_RETRY_AFTER_MS)
}

export const MAX_TOKEN_LENGTH = 1024
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/

/**
 * The token and echoed user id of an issue answer, from the v4 shape `{code:0,result:{userId,accessToken}}`
 * or the legacy shape `{code:200,userId,token}`. Undefined when either is missing or unusable, or when
 * the answer names another user (a mixed-up response must never hand one user another's token).
 */
export function issuedToken (body: Record<string, unknown>, askedUserId: string): { userId: string, token: string } | undefined {
  const result = body.result
  const source = typeof result === 'object' && result !== null && !Array.isArray(result) ? result as Record<string, unknown> : body
  const token = source.accessToken ?? source.token
  const userId = source.userId
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !PRINTABLE_ASCII.test(token)) return undefined
  if (userId !== askedUserId) return undefined
  return { userId: askedUserId, token }
}
