/**
 * Which JWS algorithms a key can verify. Algorithms are pinned per key mode and key type, so a
 * token can never pick a weaker or confused algorithm (HMAC with a public key, `none`).
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import type { EnvReader } from './env-reader.ts'

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
export const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const
export const EC_ALGORITHMS = ['ES256', 'ES384', 'ES512'] as const
export const ASYMMETRIC_ALGORITHMS = [...RSA_ALGORITHMS, ...EC_ALGORITHMS, 'EdDSA'] as const
export type JwtAlgorithm = typeof HMAC_ALGORITHMS[number] | typeof ASYMMETRIC_ALGORITHMS[number]

/** EC curve → the one JWS algorithm that uses it (RFC 7518 §3.4). */
const EC_CURVE_ALGORITHM: Record<string, JwtAlgorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }

/** `requested` (from `setting`) checked against what `key` can verify; `fallback` when nothing was requested. */
export function checkAlgorithms (reader: EnvReader, setting: string, requested: string[], fallback: JwtAlgorithm[], allowed: readonly JwtAlgorithm[], key: string): JwtAlgorithm[] {
  if (requested.length === 0) return fallback
  const bad = requested.filter((alg) => !(allowed as readonly string[]).includes(alg))
  if (bad.length > 0) reader.problem(`${setting}: ${bad.join(', ')} cannot be used with ${key}; allowed: ${allowed.join(', ')}.`)
  return requested.filter((alg) => (allowed as readonly string[]).includes(alg)) as JwtAlgorithm[]
}

/** RSA keys shorter than this are refused: they can be factored (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048

const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1-----$/

export function parsePublicKey (reader: EnvReader, raw: string, setting = 'JWT_PUBLIC_KEY'): { key: KeyObject, keyType: string } | undefined {
  // Accept escaped newlines: a PEM pasted into a one-line env value.
  const pem = raw.replace(/\\n/g, '\n').trim()
  const match = PEM_BLOCK.exec(pem)
  if (match === null) {
    reader.problem(`${setting} must be exactly one PEM block (BEGIN PUBLIC KEY or BEGIN CERTIFICATE) with nothing around it.`)
    return undefined
  }
  const label = match[1]
  let key: KeyObject
  try {
    if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') key = createPublicKey(pem)
    else if (label === 'CERTIFICATE') key = new X509Certificate(pem).publicKey
    else {
      reader.problem(`${setting} holds a "${label}" block; it must be a public key or certificate (never a private key).`)
      return undefined
    }
  } catch {
    reader.problem(`${setting} could not be parsed as a PEM public key.`)
    return undefined
  }
  const keyType = key.asymmetricKeyType ?? 'unknown'
  if (keyType === 'rsa' || keyType === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
    if (bits < MIN_RSA_BITS) {
      reader.problem(`${setting} is a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required.`)
      return undefined
    }
  } else if (keyType === 'ec') {
    if (EC_CURVE_ALGORITHM[key.asymmetricKeyDetails?.namedCurve ?? ''] === undefined) {
      reader.problem(`${setting} is an EC key on a curve JWT does not use (P-256, P-384 or P-521 expected).`)
      return undefined
    }
  } else if (keyType !== 'ed25519') {
    reader.problem(`${setting} is a ${keyType} key; RSA, EC or Ed25519 expected.`)
    return undefined
  }
  return { key, keyType }
}

/** The algorithms a (checked) public key can verify, and the one used when none is configured. */
export function keyAlgorithms (key: KeyObject): { allowed: readonly JwtAlgorithm[], fallback: JwtAlgorithm } {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { allowed: RSA_ALGORITHMS, fallback: 'RS256' }
    case 'rsa-pss':
      return { allowed: ['PS256', 'PS384', 'PS512'], fallback: 'PS256' }
    case 'ec': {
      const alg = EC_CURVE_ALGORITHM[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? 'ES256'
      return { allowed: [alg], fallback: alg }
    }
    default:
      return { allowed: ['EdDSA'], fallback: 'EdDSA' }
  }
}
