/**
 * Turning an HTTP answer into a decision, by the answer's *scope*. Business code first (it is the
 * precise signal, and legacy servers send errors with HTTP 200), then the HTTP status:
 *
 * - about the domain (a transport failure, a gateway or proxy error, an answer that says the server
 *   is unhealthy): fail over and demote that domain for a while;
 * - about this request (an error code for this user, an unusable answer to this call): never demote
 *   a domain for it, whatever the status. A refusal is final; a server failure of this request is
 *   tried once on each other domain;
 * - a rate limit: back off, shared by every replica.
 *
 * Nothing from an upstream body is ever copied into an error message; the platform's own message
 * is returned separately, for one log line per unknown code.
 */
import type { NexconnFailure } from '../errors.ts'

export type Classified =
  /** `code` 0 (v4) or 200 (legacy) with HTTP 2xx: the body, for the endpoint's own validation. */
  | { kind: 'ok', body: Record<string, unknown>, businessCode: number, httpStatus: number }
  /** Nexconn refused this request; another domain would refuse it too. Not retried, no domain demoted. */
  | { kind: 'rejected', reason: NexconnFailure, businessCode: number | undefined, httpStatus: number, message: string | undefined }
  /** 429 or 1008: the quota logic backs off and may retry once. */
  | { kind: 'rate_limited', businessCode: number | undefined, httpStatus: number, retryAfterMs: number | undefined }
  /** This domain gave no usable answer and looks unhealthy: demote it, fail over. */
  | { kind: 'domain_failure', outcome: 'business_error' | 'http_error' | 'invalid_response', businessCode: number | undefined, httpStatus: number }
  /** The server failed this request only: another domain may do better, but no domain is demoted. */
  | { kind: 'request_failure', outcome: 'business_error' | 'invalid_response', businessCode: number | undefined, httpStatus: number, message: string | undefined }

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
/** Gateway statuses: whatever the body says, the server behind that domain is not answering well. */
const GATEWAY_STATUSES = new Set([502, 503, 504])
/** The domain has no such endpoint (a wrong base URL, or a server that is not Nexconn's). */
const NO_ENDPOINT_STATUSES = new Set([404, 405])

export const SUCCESS_CODES = new Set([0, 200])

/** Every code the broker interprets; metrics label anything else `other`. */
export const KNOWN_CODES: ReadonlySet<number> = new Set([...SUCCESS_CODES, ...Object.keys(REJECTIONS).map(Number), ...SERVER_ERRORS, RATE_LIMITED, 404, 405])

export interface ClassifyOptions {
  /** Business codes that mean "this user may not obtain tokens" (`NEXCONN_USER_DISABLED_CODES`). */
  userDisabledCodes?: ReadonlySet<number>
}

const NO_CODES: ReadonlySet<number> = new Set()

export function classify (status: number, rawBody: string, retryAfter: string | undefined, nowMs: number, options: ClassifyOptions = {}): Classified {
  const body = parseObject(rawBody)
  const code = body === undefined ? undefined : businessCode(body.code)
  const retryAfterMs = parseRetryAfter(retryAfter, nowMs)
  const message = body === undefined ? undefined : platformMessage(body.errorMessage)

  if (code !== undefined) {
    if (SUCCESS_CODES.has(code)) {
      return status >= 200 && status < 300 && body !== undefined
        ? { kind: 'ok', body, businessCode: code, httpStatus: status }
        : { kind: 'domain_failure', outcome: 'http_error', businessCode: code, httpStatus: status }
    }
    if (code === RATE_LIMITED) return { kind: 'rate_limited', businessCode: code, httpStatus: status, retryAfterMs }
    if ((options.userDisabledCodes ?? NO_CODES).has(code)) return { kind: 'rejected', reason: 'user_disabled', businessCode: code, httpStatus: status, message }
    const reason = REJECTIONS[code]
    if (reason !== undefined) return { kind: 'rejected', reason, businessCode: code, httpStatus: status, message }
    if (SERVER_ERRORS.has(code)) return { kind: 'domain_failure', outcome: 'business_error', businessCode: code, httpStatus: status }
  }

  if (status === 429) return { kind: 'rate_limited', businessCode: code, httpStatus: status, retryAfterMs }
  // 430 is Nexconn's own non-standard "service not enabled"; no proxy invents it.
  if (status === 430) return { kind: 'rejected', reason: 'not_enabled', businessCode: code, httpStatus: status, message }
  if (code === undefined || GATEWAY_STATUSES.has(status) || NO_ENDPOINT_STATUSES.has(status)) {
    // Not the platform's JSON (a proxy's error page, a truncated body), or a status that speaks for the domain.
    return {
      kind: 'domain_failure',
      outcome: status >= 200 && status < 300 ? 'invalid_response' : 'http_error',
      businessCode: code,
      httpStatus: status
    }
  }
  // The platform's JSON with a code we do not know: an answer about this request. The status says
  // whether the server failed it (5xx: another domain may do better) or refused it.
  if (status >= 500) return { kind: 'request_failure', outcome: 'business_error', businessCode: code, httpStatus: status, message }
  if (status === 401) return { kind: 'rejected', reason: 'credentials', businessCode: code, httpStatus: status, message }
  return { kind: 'rejected', reason: 'refused', businessCode: code, httpStatus: status, message }
}

/** The platform's `errorMessage`, for one log line: printable, bounded, never trusted further. */
function platformMessage (value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const cleaned = value.replace(/[\p{Cc}\p{Cf}]+/gu, ' ').trim().slice(0, 200)
  return cleaned === '' ? undefined : cleaned
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
