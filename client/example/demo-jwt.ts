/**
 * Signs the example's demo JWTs (HS256) with node:crypto alone, so the example needs nothing
 * beyond Node. In a real app your identity provider or backend issues these; the broker only
 * verifies them.
 */
import { createHmac } from 'node:crypto'

function encode (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

export function signDemoJwt (secret: string, claims: Record<string, unknown>, lifetimeS = 3600, now = Date.now()): string {
  const iat = Math.floor(now / 1000)
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ ...claims, iat, exp: iat + lifetimeS })}`
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`
}
