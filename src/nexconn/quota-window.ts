/**
 * The sliding-window rule both quota back-ends apply, and the in-process one.
 *
 * Nexconn counts requests when they ARRIVE, and we only know that an attempt arrived somewhere
 * between its admission and the end of the attempt. So an admitted attempt holds its slot while
 * it is in flight and for a full window after it ends. That guarantees at most `limit` arrivals in
 * ANY window at the server, however long the pool queue or the network delays a request. An attempt
 * that provably never left (connection refused, DNS failure) gives its slot back at once.
 */

export type Decision =
  | { ok: true }
  /** `backoff`: the wait comes from a Nexconn 429 back-off (known exactly, not worth polling). */
  | { ok: false, waitMs: number, backoff: boolean }

interface EndpointWindow {
  /** Attempt id → end time; `Infinity` while in flight. */
  slots: Map<string, number>
  backoffUntil: number
}

export class MemoryWindow {
  readonly #endpoints = new Map<string, EndpointWindow>()
  readonly #windowMs: number

  constructor (windowMs: number) {
    this.#windowMs = windowMs
  }

  #get (endpoint: string): EndpointWindow {
    let entry = this.#endpoints.get(endpoint)
    if (entry === undefined) {
      entry = { slots: new Map(), backoffUntil: 0 }
      this.#endpoints.set(endpoint, entry)
    }
    return entry
  }

  /** The 429 back-off known locally (set by this replica, or mirrored from Redis). */
  backoffWait (endpoint: string, now: number): number {
    return Math.max(0, this.#get(endpoint).backoffUntil - now)
  }

  tryAcquire (endpoint: string, limit: number, id: string, now: number): Decision {
    const entry = this.#get(endpoint)
    const backoff = entry.backoffUntil - now
    if (backoff > 0) return { ok: false, waitMs: backoff, backoff: true }
    let oldestEnd = Infinity
    for (const [slot, end] of entry.slots) {
      if (end <= now - this.#windowMs) entry.slots.delete(slot)
      else if (end < oldestEnd) oldestEnd = end
    }
    if (entry.slots.size < limit) {
      entry.slots.set(id, Infinity)
      return { ok: true }
    }
    // Infinity when every slot is in flight: the next release wakes the queue.
    return { ok: false, waitMs: oldestEnd + this.#windowMs - now, backoff: false }
  }

  /** Records an admission granted elsewhere (Redis), so a fallback to memory starts from the truth. */
  record (endpoint: string, id: string): void {
    this.#get(endpoint).slots.set(id, Infinity)
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
