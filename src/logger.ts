/**
 * Logging policy in one place. pino writes JSON lines to stdout; anything that could carry a
 * secret (the Authorization header, cookies, tokens, the App Secret) is redacted by path, URLs
 * are logged without their query string, and errors are reduced to fields we chose — library
 * error objects (fast-jwt's carry the decoded payload) are never dumped whole.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import type { Config } from './config.ts'

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.token',
  '*.accessToken',
  '*.appSecret',
  '*.secret',
  '*.password',
  '*.jwt',
  '*.claims'
]

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
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
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
