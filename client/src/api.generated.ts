/**
 * The broker's HTTP contract, generated from docs/openapi.json by `npm run client:api`: do not
 * edit. test/client/api-contract.test.ts fails when this file and the spec drift apart, and the
 * client is typed against these names, so a change in the API breaks the client's build.
 */

export const TOKEN_PATH = '/v1/token'

/** A JSON value's kind; 'absent' marks an optional field. */
export type JsonKind = 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array' | 'absent'

/** Body of POST /v1/token. */
export interface TokenRequest {
  /** Ask for a new token because the chat SDK reported this one invalid (connect error 31004). Honoured at most once per 30 s per user; more often the current token is returned. */
  forceRefresh?: boolean
}

/** Answer of POST /v1/token (200). */
export interface TokenResponse {
  /** The Nexconn user id the token belongs to. */
  userId: string
  /** The Nexconn access token, for the chat SDK's connect call. */
  token: string
  /** The Nexconn App Key, for the chat SDK's init call. */
  appKey: string
  /** When the broker obtained the token from Nexconn. */
  issuedAt: string
  /** `null` when tokens never expire (the Nexconn console default). */
  expiresAt: string | null
}

/** The JSON kinds of each field of TokenResponse, for checking a response at run time. */
export const TOKEN_RESPONSE_FIELDS = {
  userId: ['string'],
  token: ['string'],
  appKey: ['string'],
  issuedAt: ['string'],
  expiresAt: ['string', 'null']
} as const satisfies Record<keyof TokenResponse, readonly JsonKind[]>

/** Every error code the broker answers with (`Problem.code`). */
export const PROBLEM_CODES = ['invalid_request', 'missing_token', 'invalid_token', 'invalid_user_id', 'user_disabled', 'upstream_refused', 'not_found', 'payload_too_large', 'unsupported_media_type', 'rate_limited', 'internal_error', 'upstream_rejected', 'upstream_unavailable', 'keys_unavailable', 'shutting_down', 'overloaded'] as const
export type ProblemCode = typeof PROBLEM_CODES[number]

/** An error, as RFC 9457 problem details. */
export interface Problem {
  /** A URL naming the error code, pointing at its documentation. */
  type: string
  title: string
  status: number
  /** Stable error code. */
  code: ProblemCode
  /** What went wrong, safe to show; never holds a token or a claim. */
  detail: string
  /** Also in the X-Request-ID header; quote it when reporting a problem. */
  requestId: string
}

/** The JSON kinds of each field of Problem, for checking a response at run time. */
export const PROBLEM_FIELDS = {
  type: ['string'],
  title: ['string'],
  status: ['number'],
  code: ['string'],
  detail: ['string'],
  requestId: ['string']
} as const satisfies Record<keyof Problem, readonly JsonKind[]>

/** The codes each error status of POST /v1/token can carry. */
export const TOKEN_ERRORS = {
  400: ['invalid_request'],
  401: ['missing_token', 'invalid_token'],
  403: ['invalid_user_id', 'user_disabled', 'upstream_refused'],
  413: ['payload_too_large'],
  415: ['unsupported_media_type'],
  429: ['rate_limited'],
  500: ['internal_error'],
  502: ['upstream_rejected'],
  503: ['upstream_unavailable', 'keys_unavailable', 'shutting_down', 'overloaded']
} as const satisfies Record<number, readonly ProblemCode[]>
