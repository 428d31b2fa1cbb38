/**
 * What the provider does after each kind of failure. Keyed by every code of the broker's
 * contract (generated from its OpenAPI spec): a code added to or removed from the broker breaks
 * this file's type check, so someone must decide how the client treats it.
 */
import type { ProblemCode } from './api.generated.ts'
import type { ClientErrorCode, TokenProviderError } from './errors.ts'

/**
 * - `reauthenticate`: the app's JWT was refused; get a fresh one once, then send the user to sign-in.
 * - `back_off`: transient; wait (exponential backoff, full jitter, never sooner than Retry-After) and retry.
 * - `fail`: retrying cannot help; surface the error at once.
 */
export type Action = 'reauthenticate' | 'back_off' | 'fail'

const BY_PROBLEM: Record<ProblemCode, Action> = {
  invalid_request: 'fail',
  missing_token: 'reauthenticate',
  invalid_token: 'reauthenticate',
  invalid_user_id: 'fail',
  // Nexconn will not issue tokens for this user (soft-deleted, blocked, or a refusal the broker logs).
  user_disabled: 'fail',
  upstream_refused: 'fail',
  not_found: 'fail', // a wrong brokerUrl
  payload_too_large: 'fail',
  unsupported_media_type: 'fail',
  rate_limited: 'back_off',
  // A bug on one replica or one request; a few spaced retries cost little and often land elsewhere.
  internal_error: 'back_off',
  // Nexconn refused the broker (credentials, user limit, profile): an operator must act.
  upstream_rejected: 'fail',
  upstream_unavailable: 'back_off',
  keys_unavailable: 'back_off',
  shutting_down: 'back_off',
  overloaded: 'back_off'
}

const BY_CLIENT: Record<ClientErrorCode, Action> = {
  network_error: 'back_off',
  timeout: 'back_off',
  unexpected_response: 'back_off', // narrowed by status below
  aborted: 'fail',
  app_jwt_error: 'fail',
  refresh_throttled: 'fail'
}

/** Statuses a proxy or load balancer answers with while the broker behind it is unreachable. */
const TRANSIENT_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504])

export function actionFor (error: TokenProviderError): Action {
  if (error.code === 'unexpected_response') {
    // No status: a 200 whose body is not a token (a captive portal); worth another try.
    return error.status === undefined || TRANSIENT_STATUSES.has(error.status) ? 'back_off' : 'fail'
  }
  return (BY_PROBLEM as Record<string, Action>)[error.code] ?? BY_CLIENT[error.code as ClientErrorCode]
}
