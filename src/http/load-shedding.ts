/**
 * Load shedding: while the event loop lags, answer 503 `overloaded` with Retry-After at once
 * rather than let every request time out. Health probes are never shed: a busy pod is not a dead one.
 *
 * Why not @fastify/under-pressure: it sheds on a single sample, and the first sample of a process
 * covers its start-up stall (module loading, schema compilation, a busy host), so a fresh, idle
 * broker answered its first requests with 503. Here the lag is sampled as under-pressure does (the
 * mean delay of a 10 ms timer over each interval), samples taken before the app was ready are
 * discarded, and only a lag that persists over two consecutive samples sheds: a real overload
 * does, a one-off stall (start-up, a cold first request, a long GC) does not.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import fp from 'fastify-plugin'
import { BrokerError } from '../errors.ts'

const RESOLUTION_MS = 10
/** Consecutive lagging samples before requests are shed. */
export const SUSTAINED_SAMPLES = 2
export const OVERLOADED_RETRY_AFTER_S = 2
const PROBES = new Set(['/livez', '/readyz', '/metrics'])

export interface LoadSheddingOptions {
  /** Shed while the mean event-loop delay exceeds this (MAX_EVENT_LOOP_DELAY_MS). */
  maxEventLoopDelayMs: number
}

/** How often the lag is sampled: a quarter of the limit, within 50 ms and 1 s. */
export function sampleIntervalFor (maxEventLoopDelayMs: number): number {
  return Math.min(1000, Math.max(50, Math.floor(maxEventLoopDelayMs / 4)))
}

export default fp<LoadSheddingOptions>(async (app, { maxEventLoopDelayMs }) => {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  let lagging = 0
  const timer = setInterval(() => {
    // No delay recorded yet in this interval (just reset, or the monitor's timer not due): no news.
    if (histogram.count === 0) return
    const lagMs = histogram.mean / 1e6 - RESOLUTION_MS
    histogram.reset()
    lagging = lagMs > maxEventLoopDelayMs ? lagging + 1 : 0
  }, sampleIntervalFor(maxEventLoopDelayMs))
  timer.unref()

  app.addHook('onReady', (done) => {
    histogram.reset()
    lagging = 0
    done()
  })
  app.addHook('onClose', (_app, done) => {
    clearInterval(timer)
    histogram.disable()
    done()
  })
  app.addHook('onRequest', (request, _reply, done) => {
    if (lagging < SUSTAINED_SAMPLES || PROBES.has(request.url.split('?')[0] ?? '')) {
      done()
      return
    }
    done(new BrokerError('overloaded', 'The broker is overloaded; retry shortly.', { retryAfterS: OVERLOADED_RETRY_AFTER_S }))
  })
}, { name: 'load-shedding' })
