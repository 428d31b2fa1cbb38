/**
 * The per-request logger, created only when a request writes a line.
 *
 * Fastify gives every request a child logger bound to its request id, and pino's `child()` costs
 * more than the rest of a cached answer's logging (it serializes the bindings up front). Most
 * requests write one line or none (below `info`), so `request.log` is this stand-in: the level check
 * happens here, and the pino child is made the first time a line passes it.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions, Logger } from 'pino'

type Method = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'

class RequestLogger {
  readonly #parent: Logger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  /** The lowest level value written: the route's `logLevel`, else the logger's. */
  readonly #threshold: number
  #child: Logger | undefined

  constructor (parent: Logger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
    this.#threshold = options.level === undefined ? parent.levelVal : (parent.levels.values[options.level] ?? parent.levelVal)
  }

  #write (method: Method, args: unknown[]): void {
    if ((this.#parent.levels.values[method] ?? 0) < this.#threshold) return
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    ;(this.#child[method] as (...a: unknown[]) => void)(...args)
  }

  get level (): string { return this.#child?.level ?? this.#options.level ?? this.#parent.level }
  set level (level: string) {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    this.#child.level = level
  }

  isLevelEnabled (level: string): boolean { return (this.#parent.levels.values[level] ?? Infinity) >= this.#threshold }
  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options)).child(bindings, options) as FastifyBaseLogger
  }

  silent (): void {}
  trace (...args: unknown[]): void { this.#write('trace', args) }
  debug (...args: unknown[]): void { this.#write('debug', args) }
  info (...args: unknown[]): void { this.#write('info', args) }
  warn (...args: unknown[]): void { this.#write('warn', args) }
  error (...args: unknown[]): void { this.#write('error', args) }
  fatal (...args: unknown[]): void { this.#write('fatal', args) }
}

/** Fastify's `childLoggerFactory`: `request.log` for one request. */
export function requestLogger (this: unknown, logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new RequestLogger(logger as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger
}
