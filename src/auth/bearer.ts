/**
 * Extracts the token from an `Authorization` header value (RFC 6750 §2.1). Only the shape of
 * the header is judged here; whether the token is a JWT is the verifier's business.
 */
import type { BrokerError } from '../errors.ts'
import { invalidRequest, invalidToken, missingToken } from './reasons.ts'

const BEARER = /^Bearer +(\S+) *$/i
/** The compact JWS serialisation: three base64url segments, the last may be empty. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/**
 * Returns the token or throws: `missing_token` (no header), `invalid_request` (not
 * "Bearer <token>"), `invalid_token` (too large or not a compact JWS). The size is checked
 * first, before any regular expression or decoding runs on the value.
 */
export function extractBearerToken (authorization: string | undefined, maxTokenBytes: number): string {
  if (authorization === undefined) throw missingToken()
  // Callers pass a header value; anything else (an array of duplicated headers) is malformed.
  if (typeof authorization !== 'string') throw notBearer()
  if (authorization.trim() === '') throw missingToken()
  // "Bearer " + token + a little slack: anything longer holds a token over the limit.
  if (authorization.length > maxTokenBytes + 64) {
    if (/^Bearer /i.test(authorization)) throw invalidToken('too_large')
    throw notBearer()
  }
  const match = BEARER.exec(authorization)
  const token = match?.[1]
  if (token === undefined) throw notBearer()
  if (Buffer.byteLength(token) > maxTokenBytes) throw invalidToken('too_large')
  if (!COMPACT_JWS.test(token)) throw invalidToken('malformed')
  return token
}

function notBearer (): BrokerError {
  return invalidRequest('The Authorization header must be "Bearer" followed by one token.')
}
