/**
 * Settings of the standalone emulator (`npm run emulator`, or its own container).
 *
 * The emulator is a separate program with its own settings, not part of the broker: it deliberately does
 * not share the broker's configuration schema, so the broker's config module never learns about fake
 * credentials and the emulator can run where the broker is not. Read once, at start, from the variables
 * below; an invalid value stops the program with one line naming the variable (never echoing secrets).
 *
 *   EMULATOR_PORT            primary port (default 8090; 0 = random)
 *   EMULATOR_BACKUP_PORT     optional second port: the backup domain, sharing the same state
 *   EMULATOR_HOST            bind address (default 127.0.0.1; a container sets 0.0.0.0)
 *   EMULATOR_APP_KEY         App Key (random when unset)
 *   EMULATOR_APP_SECRET      App Secret (random when unset), or EMULATOR_APP_SECRET_FILE to read it from a file
 *   EMULATOR_STRICT          true/false, or a number = strict with that clock skew in ms
 *   EMULATOR_MAX_USERS       registered-user cap (2007 beyond it; unset = unlimited)
 *   EMULATOR_TOKEN_TTL_MS    token lifetime in ms (unset or 0 = permanent)
 *   EMULATOR_RETRY_AFTER     true adds Retry-After to 429 answers
 *   EMULATOR_ERRORS_WITH_HTTP_200  true answers business errors with HTTP 200 (legacy style)
 *   EMULATOR_SOFT_DELETED_ANSWER   <status>:<code> answering an issue for a soft-deleted user (default 403:99403)
 *   EMULATOR_LOG_LEVEL       pino level (default info; debug logs every request)
 */
import { readFileSync } from 'node:fs'
import type { EmulatorOptions } from './types.ts'

export const DEFAULT_EMULATOR_PORT = 8090

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export interface EmulatorEnv {
  options: Omit<EmulatorOptions, 'logger'>
  logLevel: string
  /** True when the secret came from the environment (so it must not be printed). */
  secretFromEnv: boolean
}

export class EmulatorEnvError extends Error {
  override name = 'EmulatorEnvError'
}

type Env = Record<string, string | undefined>

function integer (env: Env, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
    throw new EmulatorEnvError(`${name} must be an integer between ${min} and ${max}`)
  }
  return Number(raw)
}

function bool (env: Env, name: string): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return undefined
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true
  if (['0', 'false', 'no', 'off'].includes(raw)) return false
  throw new EmulatorEnvError(`${name} must be true or false`)
}

function strictSetting (env: Env): EmulatorOptions['strict'] {
  const raw = env.EMULATOR_STRICT?.trim()
  if (raw !== undefined && /^\d+$/.test(raw) && raw !== '0' && raw !== '1') {
    return { skewMs: integer(env, 'EMULATOR_STRICT', 0) }
  }
  return bool(env, 'EMULATOR_STRICT')
}

function secret (env: Env): string | undefined {
  const file = env.EMULATOR_APP_SECRET_FILE
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      throw new EmulatorEnvError('EMULATOR_APP_SECRET_FILE cannot be read')
    }
    const value = text.trim()
    if (value === '') throw new EmulatorEnvError('EMULATOR_APP_SECRET_FILE is empty')
    return value
  }
  return env.EMULATOR_APP_SECRET || undefined
}

function softDeletedAnswer (env: Env): EmulatorOptions['softDeletedAnswer'] {
  const raw = env.EMULATOR_SOFT_DELETED_ANSWER?.trim()
  if (raw === undefined || raw === '') return undefined
  const match = /^([2-5]\d\d):(\d{1,9})$/.exec(raw)
  if (match === null || Number(match[2]) === 0 || Number(match[2]) === 200) {
    throw new EmulatorEnvError('EMULATOR_SOFT_DELETED_ANSWER must be <HTTP status>:<business code>, e.g. 403:99403')
  }
  return { status: Number(match[1]), code: Number(match[2]) }
}

/** Reads the emulator's settings from `env` (process.env by default). Throws EmulatorEnvError. */
export function readEmulatorEnv (env: Env = process.env): EmulatorEnv {
  const ports = [integer(env, 'EMULATOR_PORT', 0, 65535) ?? DEFAULT_EMULATOR_PORT]
  const backup = integer(env, 'EMULATOR_BACKUP_PORT', 0, 65535)
  if (backup !== undefined) ports.push(backup)
  const options: Omit<EmulatorOptions, 'logger'> = { ports, host: env.EMULATOR_HOST || '127.0.0.1' }
  const appKey = env.EMULATOR_APP_KEY || undefined
  const appSecret = secret(env)
  if (appKey !== undefined) options.appKey = appKey
  if (appSecret !== undefined) options.appSecret = appSecret
  const strict = strictSetting(env)
  if (strict !== undefined) options.strict = strict
  const maxUsers = integer(env, 'EMULATOR_MAX_USERS', 0)
  if (maxUsers !== undefined) options.maxUsers = maxUsers
  const tokenTtlMs = integer(env, 'EMULATOR_TOKEN_TTL_MS', 0)
  if (tokenTtlMs !== undefined) options.tokenTtlMs = tokenTtlMs
  const retryAfter = bool(env, 'EMULATOR_RETRY_AFTER')
  if (retryAfter !== undefined) options.retryAfterOn429 = retryAfter
  const http200 = bool(env, 'EMULATOR_ERRORS_WITH_HTTP_200')
  if (http200 !== undefined) options.errorsWithHttp200 = http200
  const softDeleted = softDeletedAnswer(env)
  if (softDeleted !== undefined) options.softDeletedAnswer = softDeleted
  const logLevel = env.EMULATOR_LOG_LEVEL?.trim().toLowerCase() || 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw new EmulatorEnvError(`EMULATOR_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`)
  return { options, logLevel, secretFromEnv: appSecret !== undefined }
}
