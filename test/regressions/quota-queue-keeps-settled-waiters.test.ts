/**
 * Regression: while an endpoint stayed saturated, the quota queue kept every settled waiter (timed
 * out or admitted) in its array until the queue drained completely, which under steady saturation
 * it never does: ~3 KB per waiter, 71 → 304 entries in 8 s at 40 arrivals/s against 5/s. Measured
 * here by the heap after a forced GC, over the equivalent of ten minutes of saturation (windows of
 * 20 ms instead of 1 s, so 600 windows take 12 s), not by timing.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import t from 'tap'
import { heapAfterGc } from '../helpers/heap.ts'
import { Quota, type QuotaOptions } from '../../src/nexconn/quota.ts'

const WINDOW_MS = 20
const ENDPOINT = '/v4/auth/access-token/issue'

t.test('ten minutes of saturation (compressed): the heap stays flat', async (t) => {
  const options: QuotaOptions = {
    limits: { [ENDPOINT]: 5 },
    defaultLimit: 5,
    windowMs: WINDOW_MS,
    holdMs: 8 * WINDOW_MS,
    maxQueue: 10_000,
    minAttemptMs: 1,
    redisPrefix: 'unused:',
    redisTimeoutMs: 100,
    redisRetryMs: 1000,
    redisPollMs: 5,
    now: Date.now,
    logger: pino({ level: 'silent' })
  }
  const quota = new Quota(options)
  t.teardown(() => { quota.close() })
  let admitted = 0
  let refused = 0
  const arrive = (): void => {
    // Each caller has eight windows to get a slot, as a real call has its 8 s deadline.
    quota.acquire(ENDPOINT, Date.now() + 8 * WINDOW_MS, new AbortController().signal).then(
      (lease) => { admitted++; lease.release(true) },
      () => { refused++ }
    )
  }
  // 40 arrivals per window against a limit of 5: saturated throughout.
  const timer = setInterval(() => { for (let i = 0; i < 2; i++) arrive() }, 1)
  t.teardown(() => { clearInterval(timer) })

  await sleep(60 * WINDOW_MS)
  const early = heapAfterGc()
  await sleep(540 * WINDOW_MS)
  const late = heapAfterGc()
  clearInterval(timer)
  const growthMiB = (late - early) / 2 ** 20
  t.comment(`admitted ${admitted}, refused ${refused}, heap ${(early / 2 ** 20).toFixed(1)} → ${(late / 2 ** 20).toFixed(1)} MiB`)
  t.ok(refused > admitted, 'the endpoint was saturated throughout')
  t.ok(admitted >= 600, `calls kept being admitted (${admitted})`)
  t.ok(growthMiB < 8, `heap growth over the run: ${growthMiB.toFixed(1)} MiB`)
})
