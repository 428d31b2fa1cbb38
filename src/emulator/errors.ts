/**
 * Business codes and the HTTP status each one travels with.
 *
 * The API document lists the codes but leaves their HTTP pairing open; this is the "likely" pairing it
 * suggests. 2007 (development user cap) is answered with 403: it is a quota the app may not exceed, not a
 * malformed request. Code 400 ("user ID does not exist") goes with HTTP 400, like the other
 * parameter errors, rather than 404 (which the platform uses for an unknown endpoint).
 */

const STATUS_BY_CODE: Record<number, number> = {
  400: 400,
  1000: 500,
  1001: 401,
  1002: 400,
  1004: 401,
  1005: 400,
  1006: 403,
  1007: 403,
  1008: 429,
  1009: 430,
  1050: 500,
  2007: 403,
}

/** HTTP status for a business code; unknown codes are treated as internal errors. */
export function httpStatusFor (code: number): number {
  return STATUS_BY_CODE[code] ?? 500
}

/** Thrown by validation and handlers; the request pipeline turns it into an error reply. */
export class BusinessError extends Error {
  readonly code: number
  /** The HTTP status, when it is not the code's usual pairing (an undocumented answer). */
  readonly status: number | undefined
  constructor (code: number, message: string, status?: number) {
    super(message)
    this.code = code
    this.status = status
  }
}

/** What a handler or fault decided to answer; the pipeline serialises and records it. */
export interface Reply {
  status: number
  code: number | null
  body: unknown
  headers?: Record<string, string>
  /** Set when a token was really issued, for stats.callsByUser. */
  issuedFor?: string
  /** True only for real, state-changing successes (not faults that look successful). */
  success?: boolean
}

/**
 * Error reply in the documented shape `{code, errorMessage}`. With `errorsWithHttp200` the HTTP status
 * is 200, mimicking legacy servers that only signal failure in the body.
 */
export function errorReply (code: number, message: string, errorsWithHttp200: boolean, status?: number): Reply {
  return {
    status: errorsWithHttp200 ? 200 : status ?? httpStatusFor(code),
    code,
    body: { code, errorMessage: message },
  }
}
