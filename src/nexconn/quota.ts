/**
 * Keeps the calls to each Nexconn endpoint under its per-App-Key limit. Calls over the rate wait in
 * a bounded FIFO queue per endpoint until a slot frees up or their deadline leaves too little time
 * for an attempt; then they fail with the retryable `rate_limited`.
 *
 * With Redis the window is shared by every replica; without it (or while Redis fails) each replica
 * keeps its own. A Redis problem never fails a call: every Redis step is raced against a short
 * timeout, and after a failure Redis is left alone for a moment while the in-process window rules.
 */
import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import { NexconnError } from '../errors.ts'
import { MemoryWindow, type Decision } from './quota-window.ts'
import { RedisWindow } from './quota-redis.ts'

export interface QuotaOptions {
  /** Requests per window per endpoint path; endpoints not listed get `defaultLimit`. */
  limits: Readonly<Record<string, number>>
  defaultLimit: number
  windowMs: number
  /** How long an in-flight attempt may hold its slot in Redis if its replica dies before releasing it. */
  holdMs: number
  maxQueue: number
  /** A waiter is turned away once less than this remains before its deadline. */
  minAttemptMs: number
  redis?: Redis | Cluster
  /** Already includes the App Key. */
  redisPrefix: string
  redisTimeoutMs: number
  /** After a Redis failure, use the in-process window for this long before trying Redis again. */
  redisRetryMs: number
  /** While every slot is held elsewhere, how often the queue head asks Redis again. */
  redisPollMs: number
  now: () => number
  logger: Logger
  onWait?: (e: { endpoint: string, waitedMs: number, admitted: boolean }) => void
}

export interface QuotaLease {
  /** `sent` false: the request certainly never reached Nexconn, so its slot is given back. */
  release: (sent: boolean) => void
}

interface Waiter {
  id: string
  enqueuedAt: number
  startBy: number
  done: boolean
  resolve: (lease: QuotaLease) => void
  reject: (err: unknown) => void
  cleanup: () => void
}

interface Gate {
  queue: Waiter[]
  head: number
  running: boolean
  wake: (() => void) | undefined
  /** The head waits for slots that are still in flight: only a release tells when one frees. */
  awaitingRelease: boolean
}

/** Sleeps that a release can cut short: the queue re-checks as soon as something changes. */
const MAX_IDLE_SLEEP_MS = 250

export class Quota {
  readonly #opts: QuotaOptions
  readonly #memory: MemoryWindow
  readonly #redis: RedisWindow | undefined
  readonly #gates = new Map<string, Gate>()
  readonly #instance = randomUUID().slice(0, 8)
  #counter = 0
  #redisDownUntil = 0
  #redisHealthy = true
  #closed = false

  constructor (opts: QuotaOptions) {
    this.#opts = opts
    this.#memory = new MemoryWindow(opts.windowMs)
    this.#redis = opts.redis === undefined ? undefined : new RedisWindow(opts.redis, opts.redisPrefix, opts.windowMs, opts.holdMs)
  }

  limitOf (endpoint: string): number {
    return this.#opts.limits[endpoint] ?? this.#opts.defaultLimit
  }

  /** Waits for a slot; rejects with `rate_limited`, or with the signal's reason when it aborts. */
  acquire (endpoint: string, deadlineAt: number, signal: AbortSignal): Promise<QuotaLease> {
    const gate = this.#gate(endpoint)
    const now = this.#opts.now()
    const startBy = deadlineAt - this.#opts.minAttemptMs
    if (this.#closed) return Promise.reject(new NexconnError('unavailable', 'The Nexconn client is closed.'))
    if (signal.aborted) return Promise.reject(signal.reason)
    if (gate.queue.length - gate.head >= this.#opts.maxQueue || now >= startBy) {
      this.#report(endpoint, 0, false)
      return Promise.reject(this.#rateLimited(endpoint, gate, 0))
    }
    return new Promise<QuotaLease>((resolve, reject) => {
      const waiter: Waiter = { id: `${this.#instance}:${++this.#counter}`, enqueuedAt: now, startBy, done: false, resolve, reject, cleanup: () => {} }
      const expire = (): void => { this.#drop(endpoint, gate, waiter, this.#rateLimited(endpoint, gate, 0)) }
      const abort = (): void => { this.#drop(endpoint, gate, waiter, signal.reason) }
      const timer = setTimeout(expire, startBy - now)
      signal.addEventListener('abort', abort, { once: true })
      waiter.cleanup = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', abort)
      }
      gate.queue.push(waiter)
      void this.#pump(endpoint, gate)
    })
  }

  /** After a Nexconn 429 / 1008: every call to this endpoint, on every replica, waits `ms`. */
  async backoff (endpoint: string, ms: number): Promise<void> {
    this.#memory.backoff(endpoint, this.#opts.now() + ms)
    if (this.#redis === undefined || !this.#redisUsable()) return
    try {
      await this.#bounded(this.#redis.backoff(endpoint, ms))
    } catch (err) {
      this.#redisFailed(err)
    }
  }

  /** Rejects every waiter; later acquisitions fail. */
  close (): void {
    this.#closed = true
    for (const [endpoint, gate] of this.#gates) {
      for (let i = gate.head; i < gate.queue.length; i++) {
        const waiter = gate.queue[i]
        if (waiter !== undefined) this.#drop(endpoint, gate, waiter, new NexconnError('unavailable', 'The Nexconn client is closed.'))
      }
    }
  }

  #gate (endpoint: string): Gate {
    let gate = this.#gates.get(endpoint)
    if (gate === undefined) {
      gate = { queue: [], head: 0, running: false, wake: undefined, awaitingRelease: false }
      this.#gates.set(endpoint, gate)
    }
    return gate
  }

  #rateLimited (endpoint: string, gate: Gate, knownWaitMs: number): NexconnError {
    const queued = gate.queue.length - gate.head
    const waitMs = Math.max(knownWaitMs, this.#memory.backoffWait(endpoint, this.#opts.now()), (queued / this.limitOf(endpoint)) * this.#opts.windowMs)
    return new NexconnError('rate_limited', `The Nexconn quota for ${endpoint} could not admit the call before its deadline.`, {
      retryAfterS: Math.max(1, Math.ceil(waitMs / 1000))
    })
  }

  #drop (endpoint: string, gate: Gate, waiter: Waiter, reason: unknown): void {
    if (waiter.done) return
    waiter.done = true
    waiter.cleanup()
    this.#report(endpoint, this.#opts.now() - waiter.enqueuedAt, false)
    waiter.reject(reason)
    gate.wake?.()
  }

  #report (endpoint: string, waitedMs: number, admitted: boolean): void {
    try {
      this.#opts.onWait?.({ endpoint, waitedMs, admitted })
    } catch { /* a metrics hook must not break a call */ }
  }

  #firstLive (gate: Gate): Waiter | undefined {
    while (gate.head < gate.queue.length) {
      const waiter = gate.queue[gate.head]
      if (waiter !== undefined && !waiter.done) return waiter
      gate.head++
    }
    gate.queue = []
    gate.head = 0
    return undefined
  }

  async #pump (endpoint: string, gate: Gate): Promise<void> {
    if (gate.running) return
    gate.running = true
    try {
      for (let waiter = this.#firstLive(gate); waiter !== undefined; waiter = this.#firstLive(gate)) {
        const { decision, shared } = await this.#tryAcquire(endpoint, waiter.id)
        if (!decision.ok && waiter.done) continue
        if (decision.ok) {
          const lease = this.#lease(endpoint, waiter.id, shared)
          if (waiter.done) {
            // Expired or aborted while Redis answered: hand the slot straight back.
            lease.release(false)
            continue
          }
          waiter.done = true
          waiter.cleanup()
          gate.head++
          this.#report(endpoint, this.#opts.now() - waiter.enqueuedAt, true)
          waiter.resolve(lease)
          continue
        }
        if (decision.backoff && this.#opts.now() + decision.waitMs > waiter.startBy) {
          this.#drop(endpoint, gate, waiter, this.#rateLimited(endpoint, gate, decision.waitMs))
          continue
        }
        const cap = shared && !decision.backoff ? this.#opts.redisPollMs : MAX_IDLE_SLEEP_MS
        gate.awaitingRelease = decision.waitMs > cap
        await this.#sleep(gate, Math.max(1, Math.min(decision.waitMs, cap)))
        gate.awaitingRelease = false
      }
    } finally {
      gate.running = false
    }
  }

  #sleep (gate: Gate, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        gate.wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      gate.wake = done
    })
  }

  async #tryAcquire (endpoint: string, id: string): Promise<{ decision: Decision, shared: boolean }> {
    const now = this.#opts.now()
    const limit = this.limitOf(endpoint)
    // A back-off this replica knows of (its own 429) applies even if Redis has not heard of it.
    const localBackoff = this.#memory.backoffWait(endpoint, now)
    if (localBackoff > 0) return { decision: { ok: false, waitMs: localBackoff, backoff: true }, shared: false }
    if (this.#redis !== undefined && this.#redisUsable()) {
      try {
        const decision = await this.#bounded(this.#redis.tryAcquire(endpoint, limit, id))
        this.#redisRecovered()
        if (decision.ok) this.#memory.record(endpoint, id)
        return { decision, shared: true }
      } catch (err) {
        this.#redisFailed(err)
      }
    }
    return { decision: this.#memory.tryAcquire(endpoint, limit, id, now), shared: false }
  }

  #lease (endpoint: string, id: string, shared: boolean): QuotaLease {
    let released = false
    return {
      release: (sent) => {
        if (released) return
        released = true
        this.#memory.release(endpoint, id, sent, this.#opts.now())
        if (shared && this.#redis !== undefined) {
          // Not awaited: a slow Redis must not delay the answer. If this is lost, the slot stays
          // held until `holdMs` passes, which only errs on the safe side.
          this.#bounded(this.#redis.release(endpoint, id, sent)).catch((err: unknown) => { this.#redisFailed(err) })
        }
        // A sent attempt keeps its slot for a window; waking helps only if the queue had no end in view.
        const gate = this.#gates.get(endpoint)
        if (gate !== undefined && (!sent || gate.awaitingRelease)) gate.wake?.()
      }
    }
  }

  #redisUsable (): boolean {
    return this.#opts.now() >= this.#redisDownUntil
  }

  #bounded<T> (promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error('quota command timed out')) }, this.#opts.redisTimeoutMs)
      timer.unref()
    })
    return Promise.race([promise, timeout]).finally(() => { clearTimeout(timer) })
  }

  #redisFailed (err: unknown): void {
    this.#redisDownUntil = this.#opts.now() + this.#opts.redisRetryMs
    if (!this.#redisHealthy) return
    this.#redisHealthy = false
    this.#opts.logger.warn({ err: { message: (err as Error)?.message, code: (err as { code?: unknown })?.code } },
      'nexconn quota: Redis unavailable, limiting calls per replica until it is back')
  }

  #redisRecovered (): void {
    if (this.#redisHealthy) return
    this.#redisHealthy = true
    this.#opts.logger.info('nexconn quota: Redis back, limiting calls across replicas again')
  }
}
