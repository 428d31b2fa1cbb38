/**
 * The one error type the provider surfaces. Its `code` is the broker's problem code when the
 * broker answered with one, so apps branch on the same stable codes the broker documents; the
 * client adds a few of its own for what happens before or instead of a broker answer.
 */
import type { ProblemCode } from './api.generated.ts'

export const CLIENT_ERROR_CODES = [
  /** The request did not reach the broker or its answer was cut off (offline, DNS, CORS refusal, reset). */
  'network_error',
  /** The broker did not answer within `timeoutMs`. */
  'timeout',
  /** An answer that is not the broker's: a proxy's error page, a body that does not match the contract. */
  'unexpected_response',
  /** `clear()` was called while the request was under way. */
  'aborted',
  /** `getAppJwt` threw: the app could not produce its own JWT. */
  'app_jwt_error',
  /** `onInvalidToken()` again within the broker's forceRefresh interval: asking now would return the same token. */
  'refresh_throttled'
] as const

export type ClientErrorCode = typeof CLIENT_ERROR_CODES[number]
export type TokenErrorCode = ProblemCode | ClientErrorCode

export interface TokenProviderErrorOptions {
  /** HTTP status of the answer, when there was one. */
  status?: number | undefined
  /** The broker's request id (body `requestId` or `X-Request-ID`): quote it when reporting a problem. */
  requestId?: string | undefined
  /** How long to wait before asking again, from `Retry-After` or the forceRefresh interval. */
  retryAfterMs?: number | undefined
  cause?: unknown
}

export class TokenProviderError extends Error {
  readonly code: TokenErrorCode
  readonly status: number | undefined
  readonly requestId: string | undefined
  readonly retryAfterMs: number | undefined

  /** `message` is the broker's `detail` (safe to show) or a sentence of ours; never a token or JWT. */
  constructor (code: TokenErrorCode, message: string, options: TokenProviderErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TokenProviderError'
    this.code = code
    this.status = options.status
    this.requestId = options.requestId
    this.retryAfterMs = options.retryAfterMs
  }
}

export function isTokenProviderError (value: unknown): value is TokenProviderError {
  return value instanceof TokenProviderError
}

export function abortedError (): TokenProviderError {
  return new TokenProviderError('aborted', 'The token request was cancelled by clear().')
}
