/**
 * Redis down: the hit path for users already in the broker's in-process cache, measured once with
 * Redis up and once right after Redis is killed. Requests must keep succeeding (no errors) at
 * about the same rate; readiness reports Redis as degraded. Both rounds fit within the in-process
 * cache's lifetime (60 s), so every user is still in it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { brokerEnv, type BenchContext } from '../lib/context.ts'
import { signTokens, userIds } from '../lib/jwt.ts'
import { percentile, round, runLoad, summary, type LoadResult } from '../lib/load.ts'
import { scrapeMetrics } from '../lib/metrics.ts'
import { startBroker, withBackends } from '../lib/processes.ts'
import { figure, type ScenarioResult } from '../lib/report.ts'
import { seedTokens } from '../lib/seed.ts'
import { MEMORY_TTL_MIN_MS } from '../../src/tokens/service.ts'

async function readiness (url: string): Promise<unknown> {
  const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })
  return { status: res.status, body: await res.json() }
}

export async function redisDown (ctx: BenchContext): Promise<ScenarioResult> {
  const users = ctx.sizes.hitUsers
  return await withBackends(async ({ redis, emulator, track }) => {
    const env = brokerEnv(ctx, { emulator, redis, algorithm: 'HS256' })
    const ids = userIds('down', users)
    await seedTokens(redis.client, env, ids)
    const tokens = signTokens(ids, 'HS256', ctx.keys)
    const target = track(await startBroker('redis-down-broker', env))

    const warmedAt = Date.now()
    // Without a duration: the warm-up, every user `warmupPasses` times.
    const load = async (durationS?: number): Promise<LoadResult> => await runLoad({
      url: target.url,
      tokens,
      connections: ctx.sizes.connections,
      serverPid: target.child.pid,
      ...(durationS === undefined ? { amount: ctx.sizes.warmupPasses * users } : { durationS })
    })
    await load()
    const up = await load(ctx.sizes.roundS)
    await redis.stop()
    await sleep(500)
    const down = await load(ctx.sizes.roundS)
    const ready = await readiness(target.url)
    const brokerMetrics = await scrapeMetrics(target.url)
    // Both rounds must end before the first in-process entry may expire.
    const withinCacheLifetime = Date.now() - warmedAt < MEMORY_TTL_MIN_MS
    const errorRate = down.requests === 0 ? NaN : down.failed / down.requests

    return {
      scenario: 'redis down',
      figures: [
        figure('requests/s, Redis up', Math.round(up.rps), 'req/s'),
        figure('requests/s, Redis down', Math.round(down.rps), 'req/s'),
        figure('Redis down / Redis up', round((down.rps / up.rps) * 100, 1), '%'),
        figure('CPU per request, Redis up', round((up.serverCpuS / up.requests) * 1e6, 1), 'µs'),
        figure('CPU per request, Redis down', round((down.serverCpuS / down.requests) * 1e6, 1), 'µs'),
        figure('p99 latency, Redis down', round(percentile(down.latencies, 99), 2), 'ms'),
        figure('errors, Redis down', down.failed, '', { text: '0', pass: down.failed === 0 }),
        figure('error rate, Redis down', round(errorRate * 100, 3), '%')
      ],
      details: { users, withinCacheLifetime, readinessWhileDown: ready, up: summary(up), down: summary(down), brokerMetrics }
    }
  })
}
