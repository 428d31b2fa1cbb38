/**
 * Keys and tokens made at run time. Tokens are signed by hand with node:crypto (not by the
 * library under test), so a test can forge any header, payload or signature.
 */
import { createHmac, generateKeyPairSync, sign, constants, type KeyObject } from 'node:crypto'
import { loadConfig, type JwtConfig } from '../../../src/config.ts'

export type Alg = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

export interface KeyPair { privateKey: KeyObject, publicKey: KeyObject }

export const SECRET = 'a-test-secret-that-is-long-enough-0123456789'

export function rsaKeys (): KeyPair {
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
}
export function rsaPssKeys (): KeyPair {
  return generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
}
export function ecKeys (curve: 'P-256' | 'P-384' | 'P-521'): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: curve })
}
export function edKeys (): KeyPair {
  return generateKeyPairSync('ed25519')
}

export function pem (key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString()
}

export function b64url (value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}

export function nowS (): number {
  return Math.floor(Date.now() / 1000)
}

/** Signs `header.payload` with the algorithm named by `signAlg` (defaults to header.alg). */
export function signJwt (header: Record<string, unknown>, payload: unknown, key: KeyObject | string | Buffer, signAlg?: Alg): string {
  const input = `${b64url(header)}.${typeof payload === 'string' ? b64url(payload) : b64url(payload)}`
  const alg = signAlg ?? (header.alg as Alg)
  return `${input}.${rawSignature(alg, input, key).toString('base64url')}`
}

export function rawSignature (alg: Alg, input: string, key: KeyObject | string | Buffer): Buffer {
  const data = Buffer.from(input)
  const hash = `sha${alg.slice(2)}`
  if (alg.startsWith('HS')) return createHmac(hash, key as string | Buffer).update(data).digest()
  if (alg === 'EdDSA') return sign(null, data, key as KeyObject)
  if (alg.startsWith('ES')) return sign(hash, data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
  if (alg.startsWith('PS')) return sign(hash, data, { key: key as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
  return sign(hash, data, key as KeyObject)
}

/** A payload valid for 10 minutes; `extra` overrides. */
export function claims (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: 'user1', iat: nowS(), exp: nowS() + 600, ...extra }
}

export function bearer (token: string): string {
  return `Bearer ${token}`
}

/** The JWT settings through the real configuration loader. */
export function jwtConfig (env: Record<string, string>): JwtConfig {
  return loadConfig(env, { runMode: 'local' }).jwt
}

/** Public JWK of a key pair, with the given members added. */
export function publicJwk (key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...key.export({ format: 'jwk' }), ...extra }
}
