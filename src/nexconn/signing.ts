/**
 * Request signing as the Platform API defines it: `Signature = hex(SHA1(AppSecret + Nonce + Timestamp))`,
 * lowercase. The signature covers neither the path, the method nor the body, so every attempt — a
 * retry, a failover — gets a fresh nonce and timestamp: a strict server refuses a reused nonce.
 */
import { createHash, randomInt, randomUUID } from 'node:crypto'

export const MAX_NONCE_LENGTH = 18
export const MAX_REQUEST_ID_LENGTH = 36

/** Lowercase hex SHA-1 of secret + nonce + timestamp (UTF-8, no separator). */
export function sign (secret: string, nonce: string, timestamp: string): string {
  return createHash('sha1').update(secret + nonce + timestamp, 'utf8').digest('hex')
}

/**
 * 18 crypto-random decimal digits (~60 bits). Digits only, like the official SDKs send, so a server
 * that expects a number accepts it too.
 */
export function newNonce (): string {
  return String(randomInt(0, 1e9)).padStart(9, '0') + String(randomInt(0, 1e9)).padStart(9, '0')
}

export interface SignedHeaders {
  'App-Key': string
  Nonce: string
  Timestamp: string
  Signature: string
}

export function signedHeaders (appKey: string, appSecret: string, nowMs: number): SignedHeaders {
  const nonce = newNonce()
  const timestamp = String(Math.floor(nowMs))
  return { 'App-Key': appKey, Nonce: nonce, Timestamp: timestamp, Signature: sign(appSecret, nonce, timestamp) }
}

/**
 * The caller's request id, reduced to characters that are safe in a header and in a log line and cut
 * to 36 characters; a fresh UUID when nothing usable is left.
 */
export function requestIdFor (candidate: string | undefined): string {
  const cleaned = (candidate ?? '').replace(/[^A-Za-z0-9._:-]/g, '').slice(0, MAX_REQUEST_ID_LENGTH)
  return cleaned === '' ? randomUUID() : cleaned
}
