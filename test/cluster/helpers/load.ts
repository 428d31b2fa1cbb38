/**
 * Steady load over a fleet of broker processes, as a Kubernetes Service would send it: requests go
 * only to replicas whose /readyz says ready (polled every 100 ms, like endpoint updates), picked at
 * random. New users arrive all the time and known users come back on any replica, so both the
 * Nexconn path (locks, quota) and the shared cache are exercised. Bounded in time and count.
 *
 * Also watches each replica's view of Redis (/readyz and the store-error counter) to measure the
 * failover gap: from the fault until no replica sees Redis failing any more.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { jwtFor } from '../../helpers/broker.ts'
import type { BrokerProcess } from '../../helpers/process.ts'

export interface Answer { user: string, status: number, code: string | undefined, ms: number, at: number }

/** The answers the docs list as degraded service (retryable 503s); anything else 5xx is a failure. */
export const DEGRADED_CODES = new Set(['upstream_unavailable', 'shutting_down', 'overloaded'])

export class Fleet {
  readonly brokers: Array<BrokerProcess | undefined>
  readonly #ready = new Map<BrokerProcess, boolean>()
  readonly #agent = new Agent({ connections: 16, keepAliveTimeout: 2_000 })
  #polling = true
  readonly #poller: Promise<void>
  /** performance.now() of each moment any replica saw Redis failing. */
  readonly redisTrouble: number[] = []
  readonly #storeErrors = new Map<BrokerProcess, number>()

  constructor (brokers: BrokerProcess[]) {
    this.brokers = [...brokers]
    this.#poller = this.#poll()
  }

  replace (index: number, broker: BrokerProcess | undefined): void {
    const old = this.brokers[index]
    if (old !== undefined) this.#ready.delete(old)
    this.brokers[index] = broker
  }

  ready (): BrokerProcess[] {
    return this.brokers.filter((b): b is BrokerProcess => b !== undefined && this.#ready.get(b) === true)
  }

  async #poll (): Promise<void> {
    while (this.#polling) {
      await Promise.all(this.brokers.map(async (broker) => {
        if (broker === undefined) return
        try {
          const res = await request(`${broker.url}/readyz`, { dispatcher: this.#agent, headersTimeout: 1_000, bodyTimeout: 1_000 })
          const body = await res.body.json() as { components?: { redis?: string } }
          this.#ready.set(broker, res.statusCode === 200)
          if (body.components?.redis !== 'ok') this.redisTrouble.push(performance.now())
          const metrics = await request(`${broker.url}/metrics`, { dispatcher: this.#agent, headersTimeout: 1_000, bodyTimeout: 1_000 })
          const errors = Number(/^ctb_cache_store_errors_total (\d+)/m.exec(await metrics.body.text())?.[1] ?? 0)
          if (errors > (this.#storeErrors.get(broker) ?? 0)) this.redisTrouble.push(performance.now())
          this.#storeErrors.set(broker, errors)
        } catch {
          this.#ready.set(broker, false)
        }
      }))
      await sleep(100)
    }
  }

  /** Time from `since` until the last moment a replica saw Redis failing (0 if none did). */
  gapSince (since: number): number {
    const after = this.redisTrouble.filter((at) => at >= since)
    return after.length === 0 ? 0 : Math.max(...after) - since
  }

  async close (): Promise<void> {
    this.#polling = false
    await this.#poller
    await this.#agent.close()
  }

  agent (): Agent { return this.#agent }
}

export interface LoadOptions {
  durationMs: number
  /** Requests in flight at most. */
  concurrency: number
  /** Steady rate across all workers: a load, not a saturation (the machine also runs other tests). */
  ratePerS: number
  /** Share of requests for a user never seen before (a Nexconn issue). */
  newUserShare: number
  /** Client-side bound: a request not answered by then counts as hung. */
  timeoutMs: number
  prefix: string
}

export async function runLoad (fleet: Fleet, options: LoadOptions): Promise<Answer[]> {
  const answers: Answer[] = []
  const known: string[] = []
  let next = 0
  const end = performance.now() + options.durationMs
  const interval = 1000 / options.ratePerS
  let slot = performance.now()
  const worker = async (): Promise<void> => {
    while (performance.now() < end && answers.length < 50_000) {
      // Each request takes the next slot of the schedule; a late worker catches up without bursting.
      slot = Math.max(slot + interval, performance.now() - 10 * interval)
      const wait = slot - performance.now()
      if (wait > 0) await sleep(wait)
      const ready = fleet.ready()
      if (ready.length === 0) { await sleep(20); continue }
      const broker = ready[Math.floor(Math.random() * ready.length)]!
      const fresh = known.length === 0 || Math.random() < options.newUserShare
      const user = fresh ? `${options.prefix}${next++}` : known[Math.floor(Math.random() * known.length)]!
      const started = performance.now()
      let status = 0
      let code: string | undefined
      try {
        const res = await request(`${broker.url}/v1/token`, {
          method: 'POST',
          headers: { authorization: `Bearer ${jwtFor(user)}` },
          dispatcher: fleet.agent(),
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs
        })
        status = res.statusCode
        const body = await res.body.json() as { code?: string }
        code = body.code
      } catch (err) {
        code = (err as { code?: string }).code ?? 'client_error'
      }
      answers.push({ user, status, code, ms: performance.now() - started, at: started })
      if (fresh && status === 200) known.push(user)
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  return answers
}

/** Counts by status and code, for the test's report. */
export function tally (answers: Answer[]): string {
  const counts = new Map<string, number>()
  for (const a of answers) {
    const key = a.status === 200 ? '200' : `${a.status} ${a.code ?? ''}`.trim()
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].map(([k, v]) => `${k}: ${v}`).join(', ')
}
