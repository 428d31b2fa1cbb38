/**
 * Load shedding: while the event loop lags, requests are answered 503 `overloaded` with Retry-After
 * at once rather than left to time out (the check is in protection.ts). Health probes are never
 * shed: a busy pod is not a dead one.
 *
 * Why not @fastify/under-pressure: it sheds on a single sample, and the first sample of a process
 * covers its start-up stall (module loading, schema compilation, a busy host), so a fresh, idle
 * broker answered its first requests with 503. Here the lag is sampled as under-pressure does (the
 * mean delay of a 10 ms timer over each interval), samples taken before the app was ready are
 * discarded, and only a lag that persists over two consecutive samples sheds: a real overload
 * does, a one-off stall (start-up, a cold first request, a long GC) does not.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'

const RESOLUTION_MS = 10
/** Consecutive lagging samples before requests are shed. */
export const SUSTAINED_SAMPLES = 2
export const OVERLOADED_RETRY_AFTER_S = 2
const PROBES = new Set(['/livez', '/readyz', '/metrics'])

/** How often the lag is sampled: a quarter of the limit, within 50 ms and 1 s. */
export function sampleIntervalFor (maxEventLoopDelayMs: number): number {
  return Math.min(1000, Math.max(50, Math.floor(maxEventLoopDelayMs / 4)))
}

export class LoadShedder {
  readonly #histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  readonly #timer: NodeJS.Timeout
  #lagging = 0

  /** `maxEventLoopDelayMs`: shed while the mean event-loop delay exceeds this (MAX_EVENT_LOOP_DELAY_MS). */
  constructor (maxEventLoopDelayMs: number) {
    this.#histogram.enable()
    this.#timer = setInterval(() => {
      // No delay recorded yet in this interval (just reset, or the monitor's timer not due): no news.
      if (this.#histogram.count === 0) return
      const lagMs = this.#histogram.mean / 1e6 - RESOLUTION_MS
      this.#histogram.reset()
      this.#lagging = lagMs > maxEventLoopDelayMs ? this.#lagging + 1 : 0
    }, sampleIntervalFor(maxEventLoopDelayMs))
    this.#timer.unref()
  }

  /** The app is ready: what was measured while it started does not count. */
  ready (): void {
    this.#histogram.reset()
    this.#lagging = 0
  }

  /** True when a request to `url` should be shed now. */
  sheds (url: string): boolean {
    return this.#lagging >= SUSTAINED_SAMPLES && !PROBES.has(url.split('?')[0] ?? '')
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#histogram.disable()
  }
}
