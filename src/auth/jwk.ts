/**
 * Turns a JWKS document into verification keys. Only public signature keys survive:
 * `oct` (symmetric) keys, encryption keys, unknown key types, weak RSA keys and keys whose
 * `alg` is not in the pinned `JWT_ALGORITHMS` are ignored. Each JWK is rebuilt from an explicit
 * pick of its public members before `createPublicKey` sees it, so private members, `x5u` and
 * other extras are never read.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import type { JwtAlgorithm } from '../config.ts'
import { spkiPem } from './spki.ts'

export const MAX_JWKS_KEYS = 100
export const MAX_KID_LENGTH = 256
const MIN_RSA_BITS = 2048

const RSA_FAMILY: readonly JwtAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const EC_CURVES: Record<string, JwtAlgorithm> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }

export interface ImportedKey {
  /** `undefined` for a key published without a `kid`. */
  kid: string | undefined
  /** The algorithms this key may verify: its `alg` if given, else those its type allows ∩ pinned. */
  algorithms: JwtAlgorithm[]
  pem: string
}

export interface ImportedKeySet {
  keys: ImportedKey[]
  /** Keys skipped, for one log line; never which or why per key (kept out of logs on purpose). */
  ignored: number
}

export class JwksFormatError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'JwksFormatError'
  }
}

export function importJwks (document: unknown, pinned: readonly JwtAlgorithm[]): ImportedKeySet {
  if (!isPlainObject(document) || !Object.hasOwn(document, 'keys') || !Array.isArray(document.keys)) {
    throw new JwksFormatError('the JWKS is not an object with a "keys" array')
  }
  const entries: unknown[] = document.keys
  const keys: ImportedKey[] = []
  const seenKids = new Set<string>()
  let ignored = Math.max(0, entries.length - MAX_JWKS_KEYS)
  for (const entry of entries.slice(0, MAX_JWKS_KEYS)) {
    const key = importJwk(entry, pinned)
    // A duplicated kid is ambiguous: the first one wins, as in most JOSE libraries.
    if (key === undefined || (key.kid !== undefined && seenKids.has(key.kid))) {
      ignored++
      continue
    }
    if (key.kid !== undefined) seenKids.add(key.kid)
    keys.push(key)
  }
  return { keys, ignored }
}

function importJwk (jwk: unknown, pinned: readonly JwtAlgorithm[]): ImportedKey | undefined {
  if (!isPlainObject(jwk)) return undefined
  const kid = own(jwk, 'kid')
  const alg = own(jwk, 'alg')
  const use = own(jwk, 'use')
  const keyOps = own(jwk, 'key_ops')
  if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH)) return undefined
  if (alg !== undefined && typeof alg !== 'string') return undefined
  if (use !== undefined && use !== 'sig') return undefined
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) return undefined

  const publicJwk = pickPublicMembers(jwk)
  if (publicJwk === undefined) return undefined
  let keyObject: KeyObject
  try {
    keyObject = createPublicKey({ key: publicJwk, format: 'jwk' })
  } catch {
    return undefined
  }
  const compatible = algorithmsFor(keyObject).filter((candidate) => pinned.includes(candidate))
  // A key that names its algorithm may only be used with it, and only if that one is pinned.
  const algorithms = alg === undefined ? compatible : compatible.filter((candidate) => candidate === alg)
  if (algorithms.length === 0) return undefined
  return { kid, algorithms, pem: spkiPem(keyObject) }
}

/** The members `createPublicKey` needs for each key type, and nothing else. */
function pickPublicMembers (jwk: Record<string, unknown>): import('node:crypto').JsonWebKey | undefined {
  const kty = own(jwk, 'kty')
  const text = (name: string): string | undefined => {
    const value = own(jwk, name)
    return typeof value === 'string' && value !== '' ? value : undefined
  }
  switch (kty) {
    case 'RSA': {
      const n = text('n')
      const e = text('e')
      return n === undefined || e === undefined ? undefined : { kty, n, e }
    }
    case 'EC': {
      const crv = text('crv')
      const x = text('x')
      const y = text('y')
      return crv === undefined || x === undefined || y === undefined ? undefined : { kty, crv, x, y }
    }
    case 'OKP': {
      const crv = text('crv')
      const x = text('x')
      return crv === undefined || x === undefined ? undefined : { kty, crv, x }
    }
    default:
      // 'oct' (a shared secret must never be published, and HMAC is never accepted with a
      // JWKS) and anything unknown.
      return undefined
  }
}

function algorithmsFor (key: KeyObject): JwtAlgorithm[] {
  const details = key.asymmetricKeyDetails
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return (details?.modulusLength ?? 0) >= MIN_RSA_BITS ? [...RSA_FAMILY] : []
    case 'ec': {
      const alg = EC_CURVES[jwkCurve(details?.namedCurve)]
      return alg === undefined ? [] : [alg]
    }
    case 'ed25519':
    case 'ed448':
      return ['EdDSA']
    default:
      return []
  }
}

function jwkCurve (opensslName: string | undefined): string {
  switch (opensslName) {
    case 'prime256v1': return 'P-256'
    case 'secp384r1': return 'P-384'
    case 'secp521r1': return 'P-521'
    default: return ''
  }
}

function own (object: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(object, name) ? object[name] : undefined
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
