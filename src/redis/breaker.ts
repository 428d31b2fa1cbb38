/**
 * "Leave Redis alone for a while after it failed", the one policy every optional use of Redis
 * shares (token store, quota, failed-auth limiter, webhook memories). A failed or timed-out
 * command opens the breaker for `skipMs`: meanwhile callers fall back at once instead of paying a
 * command timeout per request, and the first call after that window probes Redis again.
 *
 * ioredis already bounds each command (`commandTimeout`); `timeoutMs` adds a bound for callers
 * that need a tighter one or run scripts. Outages are reported once (`onDown`) and recoveries once
 * (`onUp`), never per failed command.
 */

export class RedisSkippedError extends Error {
  constructor (cause?: unknown) {
    super('redis skipped after a recent failure', cause === undefined ? undefined : { cause })
    this.name = 'RedisSkippedError'
  }
}

export interface RedisBreakerOptions {
  /** How long Redis is left alone after a failure. */
  skipMs: number
  /** Upper bound of one operation, on top of ioredis' own command timeout. */
  timeoutMs?: number
  now?: () => number
  /** Once per outage: the first failure after a success (or after start). */
  onDown?: (err: unknown) => void
  /** Once per recovery: the first success after an outage. */
  onUp?: () => void
}

export class RedisBreaker {
  readonly #options: RedisBreakerOptions
  readonly #now: () => number
  #openUntil = 0
  #down = false

  constructor (options: RedisBreakerOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /** False while the breaker is open. */
  usable (): boolean {
    return this.#now() >= this.#openUntil
  }

  /** Runs `operation`; throws RedisSkippedError while open, or the operation's own failure (which opens it). */
  async run<T> (operation: () => Promise<T>): Promise<T> {
    if (!this.usable()) throw new RedisSkippedError()
    let result: T
    try {
      result = await this.#bounded(operation())
    } catch (err) {
      this.failed(err)
      throw err
    }
    if (this.#down) {
      this.#down = false
      this.#options.onUp?.()
    }
    return result
  }

  /** Like `run`, but answers `fallback` instead of throwing. */
  async attempt<T, F> (operation: () => Promise<T>, fallback: F): Promise<T | F> {
    try {
      return await this.run(operation)
    } catch {
      return fallback
    }
  }

  /** Records a failure seen outside `run` (e.g. a fire-and-forget command). */
  failed (err: unknown): void {
    this.#openUntil = this.#now() + this.#options.skipMs
    if (this.#down) return
    this.#down = true
    this.#options.onDown?.(err)
  }

  async #bounded<T> (work: Promise<T>): Promise<T> {
    const ms = this.#options.timeoutMs
    if (ms === undefined) return await work
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(Object.assign(new Error(`redis did not answer within ${ms} ms`), { code: 'REDIS_TIMEOUT' })) }, ms)
      timer.unref()
    })
    try {
      return await Promise.race([work, timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}
