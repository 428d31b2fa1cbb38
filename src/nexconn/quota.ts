/**
 * Keeps the calls to each Nexconn endpoint under its per-App-Key limit. Calls over the rate wait in
 * a bounded FIFO queue per endpoint until a slot frees up or their deadline leaves too little time
 * for an attempt; then they fail with the retryable `rate_limited`. A call whose expected wait
 * (the callers ahead of it, at the endpoint's rate) already exceeds its deadline is turned away at
 * once, so the queue never holds more than the quota can serve in one deadline.
 *
 * With Redis the window is shared by every replica; without it (or while Redis fails) each replica
 * keeps its own, sized to its share of the limit (the limit divided by the replicas last counted). A Redis problem never fails a call: every Redis step is bounded, and after a
 * failure Redis is left alone for a moment (`redis/breaker.ts`) while the in-process window rules.
 */
import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import { NexconnError } from '../errors.ts'
import { RedisBreaker } from '../redis/breaker.ts'
import { MemoryWindow, type Admission } from './quota-window.ts'
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
  /** Replicas sharing the App Key (heartbeats in Redis); 1 when unknown. */
  fleetSize?: () => number
  now: () => number
  logger: Logger
  onWait?: (e: { endpoint: string, waitedMs: number, admitted: boolean }) => void
}

export interface QuotaLease {
  /** `sent` false: the request certainly never reached Nexconn, so its slot is given back. */
  release: (sent: boolean) => void
}

interface Waiter {
  /** Its place in the queue; the slot it gets has an id of its own (`slotId`). */
  id: number
  enqueuedAt: number
  startBy: number
  done: boolean
  resolve: (lease: QuotaLease) => void
  reject: (err: unknown) => void
  cleanup: () => void
}

interface Gate {
  /** Live waiters in arrival order; a settled waiter is deleted at once (Map: O(1), ordered). */
  waiters: Map<number, Waiter>
  running: boolean
  wake: (() => void) | undefined
  /** The head waits for slots that are still in flight: only a release tells when one frees. */
  awaitingRelease: boolean
}

/** A slot's id, in Redis and in-process: `instance:sequence` (the Redis script builds the same). */
export const slotId = (instance: string, sequence: number): string => `${instance}:${sequence}`

/** Sleeps that a release can cut short: the queue re-checks as soon as something changes. */
const MAX_IDLE_SLEEP_MS = 250

export class Quota {
  readonly #opts: QuotaOptions
  readonly #memory: MemoryWindow
  readonly #redis: RedisWindow | undefined
  readonly #gates = new Map<string, Gate>()
  readonly #instance = randomUUID().slice(0, 8)
  readonly #breaker: RedisBreaker
  #counter = 0
  #nextSlot = 0
  #closed = false

  constructor (opts: QuotaOptions) {
    this.#opts = opts
    this.#memory = new MemoryWindow(opts.windowMs)
    this.#redis = opts.redis === undefined ? undefined : new RedisWindow(opts.redis, opts.redisPrefix, opts.windowMs, opts.holdMs)
    this.#breaker = new RedisBreaker({
      skipMs: opts.redisRetryMs,
      timeoutMs: opts.redisTimeoutMs,
      now: opts.now,
      onDown: (err) => {
        opts.logger.warn({ err: { message: (err as Error)?.message, code: (err as { code?: unknown })?.code } },
          'nexconn quota: Redis unavailable, limiting calls per replica until it is back')
      },
      onUp: () => { opts.logger.info('nexconn quota: Redis back, limiting calls across replicas again') }
    })
  }

  /** Calls waiting for a slot of `endpoint` (settled ones are never counted). */
  queued (endpoint: string): number {
    return this.#gates.get(endpoint)?.waiters.size ?? 0
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
    // The callers ahead are admitted at the endpoint's rate at best: past its deadline, waiting is pointless.
    const expectedWaitMs = (gate.waiters.size / this.limitOf(endpoint)) * this.#opts.windowMs
    if (gate.waiters.size >= this.#opts.maxQueue || now + expectedWaitMs >= startBy) {
      this.#report(endpoint, 0, false)
      return Promise.reject(this.#rateLimited(endpoint, gate, 0))
    }
    return new Promise<QuotaLease>((resolve, reject) => {
      const waiter: Waiter = { id: ++this.#counter, enqueuedAt: now, startBy, done: false, resolve, reject, cleanup: () => {} }
      const expire = (): void => { this.#drop(endpoint, gate, waiter, this.#rateLimited(endpoint, gate, 0)) }
      const abort = (): void => { this.#drop(endpoint, gate, waiter, signal.reason) }
      const timer = setTimeout(expire, startBy - now)
      signal.addEventListener('abort', abort, { once: true })
      waiter.cleanup = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', abort)
      }
      gate.waiters.set(waiter.id, waiter)
      void this.#pump(endpoint, gate)
    })
  }

  /** After a Nexconn 429 / 1008: every call to this endpoint, on every replica, waits `ms`. */
  async backoff (endpoint: string, ms: number): Promise<void> {
    this.#memory.backoff(endpoint, this.#opts.now() + ms)
    const redis = this.#redis
    if (redis === undefined) return
    await this.#breaker.attempt(async () => { await redis.backoff(endpoint, ms) }, undefined)
  }

  /** Rejects every waiter; later acquisitions fail. */
  close (): void {
    this.#closed = true
    for (const [endpoint, gate] of this.#gates) {
      for (const waiter of [...gate.waiters.values()]) this.#drop(endpoint, gate, waiter, new NexconnError('unavailable', 'The Nexconn client is closed.'))
    }
  }

  #gate (endpoint: string): Gate {
    let gate = this.#gates.get(endpoint)
    if (gate === undefined) {
      gate = { waiters: new Map(), running: false, wake: undefined, awaitingRelease: false }
      this.#gates.set(endpoint, gate)
    }
    return gate
  }

  #rateLimited (endpoint: string, gate: Gate, knownWaitMs: number): NexconnError {
    const queued = gate.waiters.size
    const waitMs = Math.max(knownWaitMs, this.#memory.backoffWait(endpoint, this.#opts.now()), (queued / this.limitOf(endpoint)) * this.#opts.windowMs)
    return new NexconnError('rate_limited', `The Nexconn quota for ${endpoint} could not admit the call before its deadline.`, {
      retryAfterS: Math.max(1, Math.ceil(waitMs / 1000))
    })
  }

  #drop (endpoint: string, gate: Gate, waiter: Waiter, reason: unknown): void {
    if (waiter.done) return
    waiter.done = true
    waiter.cleanup()
    gate.waiters.delete(waiter.id)
    this.#report(endpoint, this.#opts.now() - waiter.enqueuedAt, false)
    waiter.reject(reason)
    gate.wake?.()
  }

  #report (endpoint: string, waitedMs: number, admitted: boolean): void {
    try {
      this.#opts.onWait?.({ endpoint, waitedMs, admitted })
    } catch { /* a metrics hook must not break a call */ }
  }

  #first (gate: Gate): Waiter | undefined {
    return gate.waiters.values().next().value
  }

  async #pump (endpoint: string, gate: Gate): Promise<void> {
    if (gate.running) return
    gate.running = true
    try {
      while (gate.waiters.size > 0) {
        // The head of the queue asks at once (no more than could ever be admitted together), so a
        // burst is admitted in one Redis round trip instead of one per waiter.
        const wanted = Math.min(gate.waiters.size, this.limitOf(endpoint))
        const { admission, slots, shared } = await this.#tryAcquire(endpoint, wanted)
        // The slots go to whoever heads the queue now: someone may have left while Redis answered.
        for (const slot of slots) {
          const lease = this.#lease(endpoint, slot, shared)
          const waiter = this.#first(gate)
          if (waiter === undefined) {
            lease.release(false)
            continue
          }
          waiter.done = true
          waiter.cleanup()
          gate.waiters.delete(waiter.id)
          this.#report(endpoint, this.#opts.now() - waiter.enqueuedAt, true)
          waiter.resolve(lease)
        }
        if (admission.admitted === wanted || gate.waiters.size === 0) continue
        if (admission.backoff) {
          // A known back-off: whoever it outlasts is told now, not after sleeping through it.
          const over = [...gate.waiters.values()].filter((waiter) => this.#opts.now() + admission.waitMs > waiter.startBy)
          for (const waiter of over) this.#drop(endpoint, gate, waiter, this.#rateLimited(endpoint, gate, admission.waitMs))
          if (over.length > 0) continue
        }
        const cap = shared && !admission.backoff ? this.#opts.redisPollMs : MAX_IDLE_SLEEP_MS
        gate.awaitingRelease = admission.waitMs > cap
        await this.#sleep(gate, Math.max(1, Math.min(admission.waitMs, cap)))
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

  /** Asks for `count` slots; `slots` are the ids of those admitted (Redis members, in-process keys). */
  async #tryAcquire (endpoint: string, count: number): Promise<{ admission: Admission, slots: string[], shared: boolean }> {
    const now = this.#opts.now()
    const limit = this.limitOf(endpoint)
    // A back-off this replica knows of (its own 429) applies even if Redis has not heard of it.
    const localBackoff = this.#memory.backoffWait(endpoint, now)
    if (localBackoff > 0) return { admission: { admitted: 0, waitMs: localBackoff, backoff: true }, slots: [], shared: false }
    // Slot ids are this instance's sequence: a batch is sent as (first, count), not as a list of ids.
    const first = this.#nextSlot
    const redis = this.#redis
    if (redis !== undefined && this.#breaker.usable()) {
      try {
        const admission = await this.#breaker.run(async () => await redis.tryAcquire(endpoint, limit, this.#instance, first, count))
        const slots = this.#takeSlots(first, admission.admitted)
        for (const slot of slots) this.#memory.record(endpoint, slot, now)
        return { admission, slots, shared: true }
      } catch {
        // The breaker is open now: the in-process window decides. The script may still have run
        // (a timeout, not a refusal): its ids are not used again, and removing them is asked for
        // behind it on the same connection, so they do not hold slots until `holdMs` passes.
        this.#takeSlots(first, count)
        void redis.abandon(endpoint, this.#instance, first, count).catch(() => {})
      }
    }
    const next = this.#nextSlot
    // Out of Redis' reach every replica decides alone: each may use only its share of the quota,
    // or N replicas would admit N times the limit (two replicas, 400 issues a second against 200).
    const fleet = Math.max(1, Math.floor(this.#opts.fleetSize?.() ?? 1))
    const admission = this.#memory.tryAcquire(endpoint, Math.max(1, Math.floor(limit / fleet)), count, now, (i) => slotId(this.#instance, next + i))
    return { admission, slots: this.#takeSlots(next, admission.admitted), shared: false }
  }

  /** Ids `first` … `first + n - 1` are now used; the sequence moves past them. */
  #takeSlots (first: number, n: number): string[] {
    this.#nextSlot = Math.max(this.#nextSlot, first + n)
    return Array.from({ length: n }, (_, i) => slotId(this.#instance, first + i))
  }

  #lease (endpoint: string, id: string, shared: boolean): QuotaLease {
    let released = false
    return {
      release: (sent) => {
        if (released) return
        released = true
        this.#memory.release(endpoint, id, sent, this.#opts.now())
        const redis = this.#redis
        if (shared && redis !== undefined) {
          // Not awaited: a slow Redis must not delay the answer. If this is lost, the slot stays
          // held until `holdMs` passes, which only errs on the safe side.
          void this.#breaker.attempt(async () => { await redis.release(endpoint, id, sent) }, undefined)
        }
        // A sent attempt keeps its slot for a window; waking helps only if the queue had no end in view.
        const gate = this.#gates.get(endpoint)
        if (gate !== undefined && (!sent || gate.awaitingRelease)) gate.wake?.()
      }
    }
  }
}
