/**
 * Maps a verified payload to an Identity by explicit pick: nothing from the payload is merged
 * or spread into our objects, and the claim getter only follows own properties of plain
 * objects, so `__proto__`, `constructor` or inherited names in a payload are just data.
 */
import { createHash } from 'node:crypto'
import type { JwtProvider } from '../config.ts'
import { isPlainObject } from './jwk.ts'
import { invalidToken, invalidUserId } from './reasons.ts'
import type { Identity } from './types.ts'

export const MAX_NAME_LENGTH = 64
export const MAX_AVATAR_BYTES = 1024
const NEXCONN_USER_ID = /^[A-Za-z0-9]{1,64}$/

type IdentityPolicy = Pick<JwtProvider, 'userIdClaim' | 'userIdPrefix' | 'nameClaim' | 'avatarClaim' | 'userIdMode'>

/**
 * A claim as identity providers name them: the exact key first (Auth0's namespaced
 * `https://myapp.example.com/uid`, Cognito's `cognito:username`), else a dotted path into nested
 * objects (`app_metadata.chat_id`). Only own properties of plain objects are followed.
 */
export function getClaim (payload: unknown, name: string): unknown {
  if (!isPlainObject(payload)) return undefined
  if (Object.hasOwn(payload, name)) return payload[name]
  let current: unknown = payload
  for (const part of name.split('.')) {
    if (!isPlainObject(current) || !Object.hasOwn(current, part)) return undefined
    current = current[part]
  }
  return current
}

/** Control characters make no sense in a display name and can corrupt clients' logs: a space each. */
const CONTROL = /\p{Cc}+/gu
/**
 * Format characters are invisible: removed, but for the zero-width joiner and non-joiner (emoji
 * sequences and several scripts need them). A bidi override (U+202E) in a display name would make
 * a chat client show another name than the one the user has.
 */
const FORMAT = /[\p{Cf}--[\u200C\u200D]]+/gv

/**
 * The Nexconn user id in `hash` mode: lowercase hex SHA-256 of the UTF-8 bytes of
 * `issuer + "\n" + claim`, where issuer is the token's verified `iss` ("" if it has none).
 * The issuer is part of the input so the same subject at two identity providers maps to two
 * users. An app server computes the same value to address that user, e.g.
 *   node -e 'console.log(require("crypto").createHash("sha256").update(process.argv[1]+"\n"+process.argv[2]).digest("hex"))' "$ISS" "$SUB"
 */
export function hashUserId (issuer: string, claim: string): string {
  return createHash('sha256').update(`${issuer}\n${claim}`, 'utf8').digest('hex')
}

/** `payload` has passed signature and registered-claim checks; `exp` is a finite number. */
export function mapIdentity (payload: Record<string, unknown>, policy: IdentityPolicy, expiresAt: number): Identity {
  const issuer = Object.hasOwn(payload, 'iss') && typeof payload.iss === 'string' ? payload.iss : undefined
  const claim = userIdClaim(payload, policy.userIdClaim)
  const prefix = policy.userIdPrefix
  let userId: string
  if (policy.userIdMode === 'hash') {
    // A prefix takes the place of the hash's last characters: the id stays within 64.
    userId = prefix + hashUserId(issuer ?? '', claim).slice(0, 64 - prefix.length)
  } else {
    userId = prefix + claim
    if (!NEXCONN_USER_ID.test(userId)) throw invalidUserId(policy.userIdClaim)
  }
  const identity: Identity = { userId, name: displayName(payload, policy.nameClaim, userId), expiresAt }
  const avatarUrl = avatar(getClaim(payload, policy.avatarClaim))
  if (avatarUrl !== undefined) identity.avatarUrl = avatarUrl
  if (issuer !== undefined) identity.issuer = issuer
  return identity
}

/**
 * The user id claim as a string. A string is taken as is; a non-negative safe integer (some
 * apps put numeric ids in a custom claim) is taken in its decimal form, so `42` and `"42"` are
 * the same user. Anything else (float, negative, boolean, object, array) is refused: its string
 * form would be ambiguous or lossy.
 */
function userIdClaim (payload: Record<string, unknown>, path: string): string {
  const value = getClaim(payload, path)
  if (value === undefined || value === null || value === '') {
    throw invalidToken('missing_user_id', `The token has no ${path} claim.`)
  }
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value)
  throw invalidToken('bad_user_id_type', `The ${path} claim must be a string.`)
}

function displayName (payload: Record<string, unknown>, nameClaim: string, userId: string): string {
  for (const path of new Set([nameClaim, 'nickname', 'preferred_username'])) {
    const value = getClaim(payload, path)
    if (typeof value !== 'string') continue
    const cleaned = value.replace(CONTROL, ' ').replace(FORMAT, '').trim()
    if (cleaned !== '') return truncate(cleaned, MAX_NAME_LENGTH)
  }
  return truncate(userId, MAX_NAME_LENGTH)
}

/** At most `max` UTF-16 code units, never splitting a surrogate pair. */
export function truncate (value: string, max: number): string {
  if (value.length <= max) return value
  let result = ''
  for (const codePoint of value) {
    if (result.length + codePoint.length > max) break
    result += codePoint
  }
  return result
}

function avatar (value: unknown): string | undefined {
  if (typeof value !== 'string' || Buffer.byteLength(value) > MAX_AVATAR_BYTES) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  if (url.username !== '' || url.password !== '') return undefined
  // The normalised form: no stray whitespace or control characters survive URL parsing.
  return Buffer.byteLength(url.href) <= MAX_AVATAR_BYTES ? url.href : undefined
}
