/**
 * Request body parsing and field rules from the API document. Every failure is a BusinessError:
 * 1002 for an invalid or missing value, 1005 for one that is too long.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { BusinessError } from './errors.ts'

export const MAX_USER_ID_BYTES = 64
export const MAX_NAME_CHARS = 64
export const MAX_AVATAR_URL_BYTES = 1024
/** `/v4/user/soft-delete` and `/v4/user/restore` take up to 100 users. */
export const MAX_USER_IDS_PER_SOFT_DELETE = 100
export const MAX_USER_IDS_PER_EXPIRE = 20
export const MAX_REQUEST_ID_CHARS = 36

function mediaType (headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

/** v4 endpoints take a JSON object; anything else is an invalid parameter. */
export function parseJsonBody (headers: IncomingHttpHeaders, raw: string): Record<string, unknown> {
  if (mediaType(headers) !== 'application/json') throw new BusinessError(1002, 'Content-Type must be application/json')
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new BusinessError(1002, 'request body is not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BusinessError(1002, 'request body must be a JSON object')
  }
  return parsed as Record<string, unknown>
}

/** Legacy RongCloud endpoints take form-urlencoded bodies. */
export function parseFormBody (headers: IncomingHttpHeaders, raw: string): URLSearchParams {
  if (mediaType(headers) !== 'application/x-www-form-urlencoded') {
    throw new BusinessError(1002, 'Content-Type must be application/x-www-form-urlencoded')
  }
  return new URLSearchParams(raw)
}

/**
 * X-Request-ID is optional; one longer than the documented 36 characters is refused as "parameter too
 * long" (400/1005) rather than silently truncated, so a client sending oversized IDs notices.
 */
export function checkRequestId (headers: IncomingHttpHeaders): void {
  const id = headers['x-request-id']
  const value = Array.isArray(id) ? id[0] : id
  if (value !== undefined && value.length > MAX_REQUEST_ID_CHARS) {
    throw new BusinessError(1005, `X-Request-ID longer than ${MAX_REQUEST_ID_CHARS} characters`)
  }
}

/** Letters and digits only, case-sensitive, at most 64 bytes. */
export function userId (value: unknown, field = 'userId'): string {
  if (typeof value !== 'string' || value === '') throw new BusinessError(1002, `${field} is required`)
  if (Buffer.byteLength(value, 'utf8') > MAX_USER_ID_BYTES) {
    throw new BusinessError(1005, `${field} longer than ${MAX_USER_ID_BYTES} bytes`)
  }
  if (!/^[A-Za-z0-9]+$/.test(value)) throw new BusinessError(1002, `${field} may contain letters and digits only`)
  return value
}

/** Display name: required where the endpoint says so, at most 64 characters (code points). */
export function displayName (value: unknown, required: boolean): string | undefined {
  if (value === undefined || value === null) {
    if (required) throw new BusinessError(1002, 'name is required')
    return undefined
  }
  if (typeof value !== 'string' || value.trim() === '') throw new BusinessError(1002, 'name must be a non-empty string')
  if ([...value].length > MAX_NAME_CHARS) throw new BusinessError(1005, `name longer than ${MAX_NAME_CHARS} characters`)
  return value
}

/**
 * Optional, at most 1024 bytes. The URL syntax itself is not checked: the document does not say the
 * server validates it, and a stricter emulator would hide nothing the client could act on.
 */
export function avatarUrl (value: unknown, field = 'avatarUrl'): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw new BusinessError(1002, `${field} must be a string`)
  if (Buffer.byteLength(value, 'utf8') > MAX_AVATAR_URL_BYTES) {
    throw new BusinessError(1005, `${field} longer than ${MAX_AVATAR_URL_BYTES} bytes`)
  }
  return value
}

/** 1..20 valid user IDs. */
export function userIdList (value: unknown, field = 'userIds', max = MAX_USER_IDS_PER_EXPIRE): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new BusinessError(1002, `${field} must be a non-empty array`)
  if (value.length > max) {
    throw new BusinessError(1005, `${field} holds more than ${max} user IDs`)
  }
  return value.map((id: unknown) => userId(id, field))
}

/** A millisecond instant: a non-negative integer. */
export function epochMs (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new BusinessError(1002, `${field} must be a millisecond timestamp`)
  }
  return value
}

/** Form fields are strings; a legacy millisecond field must be all digits. */
export function formEpochMs (value: string, field: string): number {
  if (!/^\d{1,16}$/.test(value)) throw new BusinessError(1002, `${field} must be a millisecond timestamp`)
  return Number(value)
}
