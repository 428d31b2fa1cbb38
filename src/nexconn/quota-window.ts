/**
 * The sliding-window rule both quota back-ends apply, and the in-process one.
 *
 * Nexconn counts requests when they ARRIVE, and we only know that an attempt arrived somewhere
 * between its admission and the end of the attempt. So an admitted attempt holds its slot while
 * it is in flight and for a full window after it ends. That guarantees at most `limit` arrivals in
 * ANY window at the server, however long the pool queue or the network delays a request. An attempt
 * that provably never left (connection refused, DNS failure) gives its slot back at once.
 */

/**
 * The answer to "admit these attempts, in order": the first `admitted` of them hold a slot; the
 * rest may ask again after `waitMs` (Infinity while every slot is in flight: a release tells).
 * Asking for a whole queue at once keeps a burst from paying one Redis round trip per attempt.
 */
export interface Admission {
  admitted: number
  waitMs: number
  /** The wait comes from a Nexconn 429 back-off (known exactly, not worth polling). */
  backoff: boolean
}

interface EndpointWindow {
  /** Attempt id → end time; `Infinity` while in flight. */
  slots: Map<string, number>
  backoffUntil: number
  /** `record` sweeps ended slots once the map reaches this size (admissions granted by Redis never pass through tryAcquire's sweep). */
  sweepAt: number
}

const MIN_SWEEP_AT = 256

export class MemoryWindow {
  readonly #endpoints = new Map<string, EndpointWindow>()
  readonly #windowMs: number

  constructor (windowMs: number) {
    this.#windowMs = windowMs
  }

  #get (endpoint: string): EndpointWindow {
    let entry = this.#endpoints.get(endpoint)
    if (entry === undefined) {
      entry = { slots: new Map(), backoffUntil: 0, sweepAt: MIN_SWEEP_AT }
      this.#endpoints.set(endpoint, entry)
    }
    return entry
  }

  /** The 429 back-off known locally (set by this replica, or mirrored from Redis). */
  backoffWait (endpoint: string, now: number): number {
    return Math.max(0, this.#get(endpoint).backoffUntil - now)
  }

  /** Admits up to `count` attempts; the i-th admitted one holds the slot `idOf(i)`. */
  tryAcquire (endpoint: string, limit: number, count: number, now: number, idOf: (i: number) => string): Admission {
    const entry = this.#get(endpoint)
    const backoff = entry.backoffUntil - now
    if (backoff > 0) return { admitted: 0, waitMs: backoff, backoff: true }
    const oldestEnd = this.#sweep(entry, now)
    const admitted = Math.max(0, Math.min(count, limit - entry.slots.size))
    for (let i = 0; i < admitted; i++) entry.slots.set(idOf(i), Infinity)
    if (admitted === count) return { admitted, waitMs: 0, backoff: false }
    // Infinity when every slot is in flight: the next release wakes the queue.
    return { admitted, waitMs: oldestEnd + this.#windowMs - now, backoff: false }
  }

  /** Records an admission granted elsewhere (Redis), so a fallback to memory starts from the truth. */
  record (endpoint: string, id: string, now: number): void {
    const entry = this.#get(endpoint)
    entry.slots.set(id, Infinity)
    if (entry.slots.size < entry.sweepAt) return
    this.#sweep(entry, now)
    entry.sweepAt = Math.max(MIN_SWEEP_AT, 2 * entry.slots.size)
  }

  /** Drops slots whose window has passed; answers the oldest end left (Infinity if none ended). */
  #sweep (entry: EndpointWindow, now: number): number {
    let oldestEnd = Infinity
    for (const [slot, end] of entry.slots) {
      if (end <= now - this.#windowMs) entry.slots.delete(slot)
      else if (end < oldestEnd) oldestEnd = end
    }
    return oldestEnd
  }

  release (endpoint: string, id: string, sent: boolean, now: number): void {
    const slots = this.#get(endpoint).slots
    if (!slots.has(id)) return
    if (sent) slots.set(id, now)
    else slots.delete(id)
  }

  backoff (endpoint: string, until: number): void {
    const entry = this.#get(endpoint)
    entry.backoffUntil = Math.max(entry.backoffUntil, until)
  }
}
