/**
 * Why a bearer token was refused. Each reason has a stable code (for metrics and the
 * `onVerify` hook) and a fixed, non-sensitive sentence that becomes the problem `detail` and
 * the `error_description` of `WWW-Authenticate`. Sentences are constants or built from claim
 * *names* the operator configured, never from a token, a claim value or key material, and they
 * hold no `"` or `\` (they go inside a quoted-string).
 *
 * fast-jwt errors are mapped here by their `code` (never by message): the table is typed over
 * fast-jwt's own list of codes, so a code added by an upgrade fails the type check until it is
 * mapped, and an unknown code at run time still becomes a 401 ("invalid"), never a 500.
 */
import type { TokenValidationErrorCode } from 'fast-jwt'
import { BrokerError } from '../errors.ts'

export const INVALID_TOKEN_REASONS = {
  malformed: 'The token is malformed.',
  too_large: 'The token is too large.',
  alg_not_allowed: 'The token algorithm is not allowed.',
  missing_signature: 'The token has no signature.',
  bad_signature: 'The token signature is invalid.',
  unknown_key: 'The token was signed with an unknown key.',
  unsupported_crit: 'The token has a critical header the broker does not support.',
  expired: 'The token has expired.',
  not_yet_valid: 'The token is not valid yet.',
  issued_in_future: 'The token was issued in the future.',
  missing_claim: 'The token lacks a required claim (exp, or iss and aud when they are checked).',
  wrong_issuer: 'The token issuer is not accepted.',
  wrong_audience: 'The token audience is not accepted.',
  wrong_token_use: 'The token is not of an accepted kind (token_use).',
  bad_claim_type: 'A registered claim of the token has the wrong type.',
  missing_user_id: 'The token has no user id claim.',
  bad_user_id_type: 'The user id claim of the token must be a string.',
  invalid: 'The token is invalid.'
} as const

export type InvalidTokenReason = keyof typeof INVALID_TOKEN_REASONS

/** Every code fast-jwt 6 can raise. Claim errors are refined by `classifyClaimError` in authenticator.ts. */
const FAST_JWT_REASONS: Record<TokenValidationErrorCode, InvalidTokenReason> = {
  FAST_JWT_INVALID_TYPE: 'malformed',
  FAST_JWT_INVALID_OPTION: 'invalid',
  FAST_JWT_INVALID_ALGORITHM: 'alg_not_allowed',
  FAST_JWT_INVALID_CLAIM_TYPE: 'bad_claim_type',
  FAST_JWT_INVALID_CLAIM_VALUE: 'bad_claim_type',
  FAST_JWT_INVALID_KEY: 'unknown_key',
  FAST_JWT_INVALID_SIGNATURE: 'bad_signature',
  FAST_JWT_INVALID_PAYLOAD: 'malformed',
  FAST_JWT_MALFORMED: 'malformed',
  FAST_JWT_INACTIVE: 'not_yet_valid',
  FAST_JWT_EXPIRED: 'expired',
  FAST_JWT_MISSING_KEY: 'unknown_key',
  FAST_JWT_KEY_FETCHING_ERROR: 'unknown_key',
  FAST_JWT_SIGN_ERROR: 'invalid',
  FAST_JWT_VERIFY_ERROR: 'bad_signature',
  FAST_JWT_MISSING_REQUIRED_CLAIM: 'missing_claim',
  FAST_JWT_MISSING_SIGNATURE: 'missing_signature',
  FAST_JWT_INVALID_CRIT_HEADER: 'unsupported_crit'
}

/** The fast-jwt code of an error, if it has a string one; nothing else of the error is read. */
export function fastJwtCode (err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const code: unknown = (err as { code?: unknown }).code
  return typeof code === 'string' && code.startsWith('FAST_JWT_') ? code : undefined
}

export function reasonForFastJwtCode (code: string | undefined): InvalidTokenReason {
  if (code === undefined || !Object.hasOwn(FAST_JWT_REASONS, code)) return 'invalid'
  return FAST_JWT_REASONS[code as TokenValidationErrorCode]
}

/** The reason code carried by a BrokerError we raised, for the `onVerify` hook. */
const reasonOf = new WeakMap<BrokerError, string>()

export function rejectionReason (err: BrokerError): string {
  return reasonOf.get(err) ?? err.code
}

/** A 401 `invalid_token`. `detail` overrides the reason's sentence (it must be as safe). */
export function invalidToken (reason: InvalidTokenReason, detail: string = INVALID_TOKEN_REASONS[reason]): BrokerError {
  const err = new BrokerError('invalid_token', detail, {
    headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${detail.replace(/["\\]/g, '')}"` }
  })
  reasonOf.set(err, reason)
  return err
}

export function missingToken (): BrokerError {
  return new BrokerError('missing_token', 'An Authorization header with a Bearer token is required.', {
    headers: { 'WWW-Authenticate': 'Bearer' }
  })
}

export function invalidRequest (detail: string): BrokerError {
  return new BrokerError('invalid_request', detail, {
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_request"' }
  })
}

export function invalidUserId (claim: string): BrokerError {
  return new BrokerError('invalid_user_id',
    `The ${claim} claim is not a valid Nexconn user id (1 to 64 letters and digits). ` +
    'The operator should set USER_ID_MODE=hash to derive a valid id from it.')
}

export const KEYS_RETRY_AFTER_S = 5

export function keysUnavailable (): BrokerError {
  return new BrokerError('keys_unavailable', 'The keys that verify tokens are not loaded yet. Retry shortly.', {
    retryAfterS: KEYS_RETRY_AFTER_S
  })
}
