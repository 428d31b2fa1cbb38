/**
 * Encryption of cached tokens at rest: AES-256-GCM, a fresh 96-bit IV per write, the Redis key
 * name as associated data (a ciphertext copied under another user's key does not decrypt), and
 * the key id beside the ciphertext so older keys stay readable during a rotation.
 *
 * Sealed format: `v1.<keyId>.<iv>.<ciphertext+tag>` (base64url parts).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { EncryptionKey } from '../config.ts'

const VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

export class TokenCipher {
  readonly #current: EncryptionKey
  readonly #byId: Map<string, Buffer>

  constructor (current: EncryptionKey, old: EncryptionKey[] = []) {
    this.#current = current
    this.#byId = new Map([current, ...old].map((key) => [key.id, key.key]))
  }

  seal (plaintext: string, associatedData: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv)
    cipher.setAAD(Buffer.from(associatedData))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return `${VERSION}.${this.#current.id}.${iv.toString('base64url')}.${body.toString('base64url')}`
  }

  /** The plaintext, or `undefined` for anything tampered, moved, truncated or sealed by an unknown key. */
  open (sealed: string, associatedData: string): string | undefined {
    const [version, keyId, ivText, bodyText, extra] = sealed.split('.')
    if (version !== VERSION || keyId === undefined || ivText === undefined || bodyText === undefined || extra !== undefined) return undefined
    const key = this.#byId.get(keyId)
    if (key === undefined) return undefined
    const iv = Buffer.from(ivText, 'base64url')
    const body = Buffer.from(bodyText, 'base64url')
    if (iv.length !== IV_BYTES || body.length <= TAG_BYTES) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv)
      decipher.setAAD(Buffer.from(associatedData))
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch {
      return undefined
    }
  }
}
