/**
 * Signature and registered-claim checks, delegated to fast-jwt (the verifier under
 * @fastify/jwt). We call fast-jwt directly instead of through @fastify/jwt because the broker
 * needs what the plugin hides: one verifier per JWKS key with that key's algorithms pinned
 * (so a token can only be checked with the algorithm its key was published for), our own
 * key lookup with a refetch cooldown, our own mapping of *every* fast-jwt error code to a 401
 * (the plugin lets several fall through as 500), errors stripped of payloads before anything
 * logs them, and a verification cache that never stores failures (fast-jwt's own cache keeps
 * errors for `clockTolerance` ms, and outlives a key rotation).
 *
 * Each verifier is built once per key, so key parsing and algorithm detection happen at load
 * time, and `verify` is synchronous.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import type { JwtAlgorithm, JwtConfig } from '../config.ts'

export type VerifyFn = (token: string) => unknown

export interface ClaimPolicy {
  issuers: readonly string[]
  audiences: readonly string[]
  clockToleranceS: number
}

/**
 * `key` is the HMAC secret or an SPKI PEM public key. `algorithms` must be non-empty and
 * compatible with the key (fast-jwt refuses otherwise, at creation, not per token).
 */
export function createTokenVerifier (key: string, algorithms: readonly JwtAlgorithm[], policy: ClaimPolicy): VerifyFn {
  if (algorithms.length === 0) throw new Error('BUG: a verifier needs at least one algorithm')
  const verify = createVerifier({
    key,
    algorithms: [...algorithms],
    // fast-jwt accepts a token without exp unless it is required, and skips allowedIss /
    // allowedAud for a token that simply omits iss / aud: so those are required too when checked.
    requiredClaims: [
      'exp',
      ...(policy.issuers.length > 0 ? ['iss'] : []),
      ...(policy.audiences.length > 0 ? ['aud'] : [])
    ],
    allowedIss: policy.issuers.length > 0 ? [...policy.issuers] : undefined,
    allowedAud: policy.audiences.length > 0 ? [...policy.audiences] : undefined,
    // fast-jwt counts tolerance in milliseconds; configuration counts seconds.
    clockTolerance: policy.clockToleranceS * 1000,
    // The authenticator keeps its own cache of successes only (see module comment).
    cache: false
  })
  return (token) => verify(token)
}

/** The verifier for the secret or PEM modes (JWKS keys are built by the key store). */
export function createStaticVerifier (config: JwtConfig): VerifyFn {
  if (config.mode === 'secret') return createTokenVerifier(config.secret, config.algorithms, config)
  if (config.mode === 'public_key') return createTokenVerifier(spkiPem(config.publicKey), config.algorithms, config)
  throw new Error('BUG: JWKS mode has no static verifier')
}

/**
 * SPKI PEM of a public key, in the form fast-jwt can classify. fast-jwt does not recognise the
 * RSASSA-PSS key OID, so an `rsa-pss` key is re-wrapped as a plain RSA key: same modulus and
 * exponent; the algorithm pin (PS*) still decides which padding is accepted.
 */
export function spkiPem (key: KeyObject): string {
  const usable = key.asymmetricKeyType === 'rsa-pss' ? rsaPssAsRsa(key) : key
  return usable.export({ type: 'spki', format: 'pem' }).toString()
}

function rsaPssAsRsa (key: KeyObject): KeyObject {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  // and the BIT STRING (after its unused-bits byte) is the PKCS#1 RSAPublicKey.
  const der = key.export({ type: 'spki', format: 'der' })
  const outer = readDerHeader(der, 0, 0x30)
  const algorithm = readDerHeader(der, outer.contentStart, 0x30)
  const bits = readDerHeader(der, algorithm.end, 0x03)
  const pkcs1 = der.subarray(bits.contentStart + 1, bits.end)
  return createPublicKey({ key: pkcs1, format: 'der', type: 'pkcs1' })
}

function readDerHeader (der: Buffer, offset: number, expectedTag: number): { contentStart: number, end: number } {
  if (der.readUInt8(offset) !== expectedTag) throw new Error('Unexpected DER structure in public key')
  let length = der.readUInt8(offset + 1)
  let cursor = offset + 2
  if (length & 0x80) {
    const octets = length & 0x7f
    length = 0
    for (let i = 0; i < octets; i++) length = length * 256 + der.readUInt8(cursor++)
  }
  return { contentStart: cursor, end: cursor + length }
}
