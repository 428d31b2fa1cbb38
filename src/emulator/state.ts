/**
 * The emulated app's data: registered users and the access tokens issued to them. One instance is
 * shared by every port, as the platform's primary and backup domains front the same service.
 */
import { randomBytes } from 'node:crypto'
import { BusinessError } from './errors.ts'
import type { TokenStatus, UserProfile } from './types.ts'

interface UserRecord {
  name: string
  avatarUrl?: string
  createdAt: number
}

interface TokenRecord {
  userId: string
  issuedAt: number
  /** Secret generation the token was issued under; a console secret rotation invalidates older ones. */
  secretEpoch: number
}

/**
 * These three leading bytes encode to "+/+/" in base64, and 34 bytes always end in "==": every token
 * contains `+`, `/` and `=`, so a client that forgets to escape tokens fails in tests, not in production.
 */
const TOKEN_PREFIX = Buffer.from([0xfb, 0xfe, 0xbf])
const TOKEN_RANDOM_BYTES = 31

/** Opaque, base64-like, 48 characters (the platform promises at most 256 bytes). */
export function newAccessToken (): string {
  return Buffer.concat([TOKEN_PREFIX, randomBytes(TOKEN_RANDOM_BYTES)]).toString('base64')
}

/** "YYYY-MM-DD HH:mm:ss" in UTC, the format of user/get's createdAt. */
export function formatCreatedAt (ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ')
}

export interface StateOptions {
  maxUsers: number
  tokenTtlMs: number
  /** How an issue for a soft-deleted user is refused (undocumented upstream). */
  softDeletedAnswer: { code: number, status: number }
}

export const DEFAULT_SOFT_DELETED_ANSWER = { code: 99403, status: 403 } as const

export class EmulatorState {
  #users = new Map<string, UserRecord>()
  #tokens = new Map<string, TokenRecord>()
  /** Per user: tokens issued before this instant (ms) are revoked (access-token/expire). */
  #revokedBefore = new Map<string, number>()
  /** Soft-deleted users: no token works and none is issued until a restore. */
  #softDeleted = new Set<string>()
  #operations = 0
  #secretEpoch = 0
  #opts: StateOptions

  constructor (opts: StateOptions) {
    this.#opts = opts
  }

  get registeredUsers (): number {
    return this.#users.size
  }

  /** Creates or overwrites a profile; throws 2007 when a NEW user would exceed the cap. */
  upsertUser (userId: string, name: string, avatarUrl: string | undefined, now = Date.now()): void {
    const existing = this.#users.get(userId)
    if (!existing && this.#users.size >= this.#opts.maxUsers) {
      throw new BusinessError(2007, `development environment limit: at most ${this.#opts.maxUsers} registered users`)
    }
    const record: UserRecord = { name, createdAt: existing?.createdAt ?? now }
    if (avatarUrl !== undefined) record.avatarUrl = avatarUrl
    this.#users.set(userId, record)
  }

  /** Registers the user if new (or updates the profile), then issues a fresh token; old tokens stay valid. */
  issueToken (userId: string, name: string, avatarUrl: string | undefined, now = Date.now()): string {
    if (this.#softDeleted.has(userId)) {
      const { code, status } = this.#opts.softDeletedAnswer
      throw new BusinessError(code, 'user is soft-deleted', status)
    }
    this.upsertUser(userId, name, avatarUrl, now)
    return this.storeToken(userId, now)
  }

  /** Stores a token without touching profiles (also used by the wrong_user fault). */
  storeToken (userId: string, now = Date.now()): string {
    const token = newAccessToken()
    this.#tokens.set(token, { userId, issuedAt: now, secretEpoch: this.#secretEpoch })
    return token
  }

  /** Updates the fields given; throws code 400 when the user does not exist. */
  updateUser (userId: string, patch: { name?: string; avatarUrl?: string }): void {
    const user = this.#users.get(userId)
    if (!user) throw new BusinessError(400, 'user ID does not exist')
    if (patch.name !== undefined) user.name = patch.name
    if (patch.avatarUrl !== undefined) user.avatarUrl = patch.avatarUrl
  }

  user (userId: string): UserProfile | undefined {
    const user = this.#users.get(userId)
    if (!user) return undefined
    const profile: UserProfile = { name: user.name, createdAt: formatCreatedAt(user.createdAt) }
    if (user.avatarUrl !== undefined) profile.avatarUrl = user.avatarUrl
    return profile
  }

  /**
   * Tokens the users obtained before `expiresAt` become invalid. The latest cutoff wins: a later call with
   * an earlier instant cannot bring revoked tokens back. Unknown users are accepted (nothing to revoke yet).
   */
  revokeBefore (userIds: readonly string[], expiresAt: number): void {
    for (const userId of userIds) {
      this.#revokedBefore.set(userId, Math.max(expiresAt, this.#revokedBefore.get(userId) ?? -Infinity))
    }
  }

  /** Returns an operation id, as the platform does. */
  softDelete (userIds: readonly string[]): string {
    for (const userId of userIds) this.#softDeleted.add(userId)
    return `op${++this.#operations}`
  }

  /** The user may obtain tokens again; tokens from before the soft delete stay invalid. */
  restore (userIds: readonly string[], now = Date.now()): void {
    for (const userId of userIds) {
      if (this.#softDeleted.delete(userId)) this.revokeBefore([userId], now)
    }
  }

  /** Console secret rotation: every token issued so far becomes invalid. */
  rotateSecret (): void {
    this.#secretEpoch += 1
  }

  tokenStatus (token: string, now = Date.now()): TokenStatus {
    const record = this.#tokens.get(token)
    if (!record) return { valid: false, reason: 'unknown' }
    const { userId } = record
    if (this.#softDeleted.has(userId)) return { valid: false, userId, reason: 'soft_deleted' }
    const cutoff = this.#revokedBefore.get(userId)
    if (record.secretEpoch !== this.#secretEpoch || (cutoff !== undefined && record.issuedAt < cutoff)) {
      return { valid: false, userId, reason: 'revoked' }
    }
    if (this.#opts.tokenTtlMs > 0 && now >= record.issuedAt + this.#opts.tokenTtlMs) {
      return { valid: false, userId, reason: 'expired' }
    }
    return { valid: true, userId }
  }

  /** Users and tokens go; the secret generation stays (it belongs to the app, not to the data). */
  clear (): void {
    this.#users.clear()
    this.#tokens.clear()
    this.#revokedBefore.clear()
    this.#softDeleted.clear()
  }
}
