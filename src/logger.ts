/**
 * Logging policy in one place. pino writes JSON lines to stdout; anything that could carry a
 * secret (the Authorization header, cookies, tokens, the App Secret, claims) is censored by key
 * name at any depth, URLs are logged without their query string, and errors are reduced to fields
 * we chose — library error objects (fast-jwt's carry the decoded payload) are never dumped whole.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import type { Config } from './config.ts'

export const CENSOR = '[redacted]'

/**
 * Keys whose values never reach a log line, wherever they sit in a logged object (compared in
 * lowercase). pino's path redaction only reaches the levels its paths spell out; a secret one level
 * deeper, or at the top, would slip through.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization',
  'token', 'accesstoken', 'access_token', 'idtoken', 'id_token', 'refreshtoken', 'refresh_token', 'jwt',
  'secret', 'appsecret', 'app_secret', 'clientsecret', 'client_secret', 'password', 'apikey', 'api_key', 'adminapikey',
  'signature', 'claims', 'payload', 'encryptionkey'
])
/**
 * pino formats a child logger's bindings without the formatters (on purpose, for speed), so the
 * same names are also redacted by path at the top level, where bindings live.
 */
const TOP_LEVEL_PATHS = ['token', 'accessToken', 'jwt', 'secret', 'appSecret', 'password', 'claims', 'payload', 'signature', 'authorization', 'cookie', 'apiKey']

/** Deep enough for any object the broker logs; deeper levels are cut off rather than walked. */
const MAX_DEPTH = 8

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The logged object with every secret key censored, at any depth. Copies only what it changes,
 * so the common case (nothing to censor) allocates nothing. Only plain objects and arrays are
 * walked: errors and requests go through their own serializers, which pick fields by name.
 */
export function censorSecrets<T> (value: T, depth = 0): T {
  if (depth > MAX_DEPTH) return '[too deep]' as T
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    value.forEach((item, index) => {
      const censored = censorSecrets(item, depth + 1)
      if (censored !== item) (copy ??= [...value])[index] = censored
    })
    return (copy ?? value) as T
  }
  if (!isPlainObject(value)) return value
  let copy: Record<string, unknown> | undefined
  for (const key of Object.keys(value)) {
    const item = value[key]
    const censored = SECRET_KEYS.has(key.toLowerCase()) ? CENSOR : censorSecrets(item, depth + 1)
    if (censored !== item) (copy ??= { ...value })[key] = censored
  }
  return (copy ?? value) as T
}

interface SerializableRequest {
  method: string
  url: string
  routeOptions?: { url?: string }
  ip?: string
  headers?: Record<string, string | string[] | undefined>
}

/** The path without its query string: queries may carry webhook signatures or tokens. */
export function pathOnly (url: string): string {
  const index = url.indexOf('?')
  return index === -1 ? url : url.slice(0, index)
}

export function serializeRequest (req: SerializableRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: pathOnly(req.url),
    route: req.routeOptions?.url,
    remoteAddress: req.ip,
    userAgent: req.headers?.['user-agent']
  }
}

/**
 * Keeps only what helps an operator: the error's class, stable code and our own message.
 * Messages of errors we did not create may quote input, so only their class and code are kept.
 */
export function serializeError (err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err }
  const code = (err as { code?: unknown }).code
  const ours = ['BrokerError', 'NexconnError', 'ConfigError'].includes(err.name)
  const result: Record<string, unknown> = { type: err.name, code: typeof code === 'string' || typeof code === 'number' ? code : undefined }
  if (ours) result.message = err.message
  if (err.stack !== undefined) result.stack = err.stack.split('\n').slice(ours ? 1 : 1, 8).join('\n')
  if (err.cause !== undefined) result.cause = serializeError(err.cause)
  return result
}

export function loggerOptions (level: Config['server']['logLevel'], pretty = false): LoggerOptions {
  return {
    level,
    formatters: { log: censorSecrets },
    redact: { paths: TOP_LEVEL_PATHS, censor: CENSOR },
    serializers: {
      req: serializeRequest,
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      err: serializeError,
      error: serializeError
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}

export function createLogger (level: Config['server']['logLevel'], options: { pretty?: boolean, stream?: DestinationStream } = {}): Logger {
  const opts = loggerOptions(level, options.pretty === true && options.stream === undefined)
  return options.stream === undefined ? pino(opts) : pino(opts, options.stream)
}
