/**
 * The error catalogue. Every error the broker answers with is one of these codes; the REST
 * layer renders it as `application/problem+json` (RFC 9457). Codes are stable and greppable:
 * clients and dashboards key on them, so renaming one is a breaking change.
 *
 * Errors raised by libraries (Fastify, fast-jwt, ioredis, undici) are mapped to this catalogue
 * by their `code`, never by their message, in the module that calls the library.
 */

/** Each code has a heading of its own in docs/errors.md (test/routes/error-docs.test.ts). */
export const PROBLEM_TYPE_BASE = 'https://github.com/chat-token-broker/chat-token-broker/blob/main/docs/errors.md#'

export const ERRORS = {
  invalid_request: { status: 400, title: 'Invalid request' },
  missing_token: { status: 401, title: 'Missing bearer token' },
  invalid_token: { status: 401, title: 'Invalid token' },
  invalid_user_id: { status: 403, title: 'User id not usable by Nexconn' },
  user_disabled: { status: 403, title: 'User disabled at Nexconn' },
  upstream_refused: { status: 403, title: 'Nexconn refused this user' },
  not_found: { status: 404, title: 'Not found' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal error' },
  upstream_rejected: { status: 502, title: 'Nexconn rejected the request' },
  upstream_unavailable: { status: 503, title: 'Nexconn unavailable' },
  keys_unavailable: { status: 503, title: 'Verification keys unavailable' },
  shutting_down: { status: 503, title: 'Shutting down' },
  overloaded: { status: 503, title: 'Overloaded' }
} as const satisfies Record<string, { status: number, title: string }>

export type ErrorCode = keyof typeof ERRORS

export interface BrokerErrorOptions {
  /** Seconds after which retrying makes sense; becomes the `Retry-After` header. */
  retryAfterS?: number
  /** Extra response headers, e.g. `WWW-Authenticate`. */
  headers?: Record<string, string>
  /** The underlying error, kept for logs only (never rendered). */
  cause?: unknown
}

/**
 * An error the client is meant to see. `detail` must be safe to show: it never carries a
 * token, a claim, a secret or an upstream body.
 */
export class BrokerError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly detail: string
  readonly retryAfterS: number | undefined
  readonly headers: Record<string, string>

  constructor (code: ErrorCode, detail: string, options: BrokerErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'BrokerError'
    this.code = code
    this.statusCode = ERRORS[code].status
    this.detail = detail
    this.retryAfterS = options.retryAfterS
    this.headers = options.headers ?? {}
  }
}

export function isBrokerError (err: unknown): err is BrokerError {
  return err instanceof BrokerError
}

/**
 * Why a call to the Nexconn Platform API failed, classified so callers can decide what to do.
 * `retryable` reasons are worth trying again later; the others need an operator or a different
 * request. Messages are written by us, never copied from an upstream body.
 */
export const NEXCONN_FAILURES = {
  /** Every domain failed or timed out within the deadline. */
  unavailable: { retryable: true, problem: 'upstream_unavailable' },
  /** Our own quota queue was full or Nexconn answered 429 / code 1008. */
  rate_limited: { retryable: true, problem: 'upstream_unavailable' },
  /** 1001, 1004, 1006, 1007: wrong key or secret, app locked, IP not allowed. An operator must act. */
  credentials: { retryable: false, problem: 'upstream_rejected' },
  /** 1002, 1005, 400: Nexconn refused a parameter we sent. */
  bad_parameter: { retryable: false, problem: 'upstream_rejected' },
  /** 2007: the development environment's registered-user limit. */
  user_limit: { retryable: false, problem: 'upstream_rejected' },
  /** 1009 / HTTP 430: the service is not enabled for this app. */
  not_enabled: { retryable: false, problem: 'upstream_rejected' },
  /** A well-formed answer we cannot use (missing token, other user id). */
  invalid_response: { retryable: true, problem: 'upstream_unavailable' },
  /** A code listed in NEXCONN_USER_DISABLED_CODES: the user is soft-deleted or blocked at Nexconn. */
  user_disabled: { retryable: false, problem: 'user_disabled' },
  /** A business code the broker does not know, with a 4xx (or legacy 200) status: a refusal of this request. */
  refused: { retryable: false, problem: 'upstream_refused' },
  /** A business code the broker does not know, with a 5xx status, on every domain: the server failed this request. */
  server_error: { retryable: true, problem: 'upstream_unavailable' }
} as const satisfies Record<string, { retryable: boolean, problem: ErrorCode }>

export type NexconnFailure = keyof typeof NEXCONN_FAILURES

export class NexconnError extends Error {
  readonly reason: NexconnFailure
  /** Nexconn business code when one was received, for logs and metrics. */
  readonly businessCode: number | undefined
  readonly httpStatus: number | undefined
  readonly retryAfterS: number | undefined
  readonly retryable: boolean

  constructor (reason: NexconnFailure, message: string, options: { businessCode?: number, httpStatus?: number, retryAfterS?: number, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'NexconnError'
    this.reason = reason
    this.businessCode = options.businessCode
    this.httpStatus = options.httpStatus
    this.retryAfterS = options.retryAfterS
    this.retryable = NEXCONN_FAILURES[reason].retryable
  }
}

const NEXCONN_DETAIL: Record<NexconnFailure, string> = {
  unavailable: 'Nexconn could not be reached in time. Retry later.',
  rate_limited: 'The Nexconn token quota is exhausted for the moment. Retry later.',
  credentials: 'Nexconn refused the broker\'s credentials. The operator must check the App Key and Secret.',
  bad_parameter: 'Nexconn refused the user profile sent for this user.',
  user_limit: 'The Nexconn app has reached its registered-user limit.',
  not_enabled: 'The Nexconn service is not enabled for this app.',
  invalid_response: 'Nexconn answered with a response the broker cannot use. Retry later.',
  user_disabled: 'Nexconn does not issue tokens for this user: the user is soft-deleted or blocked.',
  refused: 'Nexconn refused to issue a token for this user. The operator finds Nexconn\'s code in the broker\'s log.',
  server_error: 'Nexconn failed to handle this request. Retry later.'
}

/** Turns any error into the client-facing catalogue entry; unknown errors become `internal_error`. */
export function toBrokerError (err: unknown): BrokerError {
  if (err instanceof BrokerError) return err
  if (err instanceof NexconnError) {
    const failure = NEXCONN_FAILURES[err.reason]
    return new BrokerError(failure.problem, NEXCONN_DETAIL[err.reason], {
      retryAfterS: failure.retryable ? Math.max(1, Math.ceil(err.retryAfterS ?? 1)) : undefined,
      cause: err
    })
  }
  return new BrokerError('internal_error', 'An internal error occurred.', { cause: err })
}
