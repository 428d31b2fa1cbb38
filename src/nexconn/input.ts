/**
 * Checks of what we are about to send, against the documented field limits. A call that Nexconn
 * would certainly refuse is refused here, without spending quota. The character set of user ids is
 * left to Nexconn (its rules may be wider than documented).
 */
import { NexconnError } from '../errors.ts'

export const MAX_USER_ID_BYTES = 64
export const MAX_NAME_CHARS = 64
export const MAX_AVATAR_URL_BYTES = 1024

export function checkUserId (userId: unknown): void {
  if (typeof userId !== 'string' || userId === '' || Buffer.byteLength(userId, 'utf8') > MAX_USER_ID_BYTES) {
    throw new NexconnError('bad_parameter', `A Nexconn user id must be 1 to ${MAX_USER_ID_BYTES} bytes.`)
  }
}

export function checkText (value: unknown, field: string, max: number, required: boolean): void {
  if (typeof value !== 'string' || (required && value === '') || (field === 'name' ? [...value].length : Buffer.byteLength(value, 'utf8')) > max) {
    throw new NexconnError('bad_parameter', `${field} must be a string of at most ${max} ${field === 'name' ? 'characters' : 'bytes'}${required ? ' and not empty' : ''}.`)
  }
}
