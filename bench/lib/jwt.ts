/**
 * The app's own JWTs, as an identity provider would sign them: one per user (sub = user id,
 * name, exp two hours ahead), HS256 with a shared secret or RS256 with a fresh 2048-bit key.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'

export type Algorithm = 'HS256' | 'RS256'

export interface JwtKeys {
  secret: string
  privateKeyPem: string
  publicKeyPem: string
}

const LIFETIME_S = 2 * 3600

export function makeKeys (): JwtKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    secret: randomBytes(32).toString('base64url'),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString()
  }
}

/** The broker's variables for verifying tokens of `algorithm` (RS256 is the default for an RSA key). */
export function jwtEnv (algorithm: Algorithm, keys: JwtKeys): Record<string, string> {
  return algorithm === 'HS256' ? { JWT_SECRET: keys.secret } : { JWT_PUBLIC_KEY: keys.publicKeyPem }
}

/** Distinct Nexconn-valid user ids (letters and digits), unique per `prefix`. */
export function userIds (prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`)
}

export function signTokens (ids: readonly string[], algorithm: Algorithm, keys: JwtKeys): string[] {
  const sign = createSigner({ algorithm, key: algorithm === 'HS256' ? keys.secret : keys.privateKeyPem })
  const exp = Math.floor(Date.now() / 1000) + LIFETIME_S
  return ids.map((sub) => sign({ sub, name: `Bench ${sub}`, exp }))
}
