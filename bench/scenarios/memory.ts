/**
 * Memory: one broker, started with the chart's Node flags and default settings, serves N distinct
 * users (each once, each with its own JWT; their tokens are in Redis, as after earlier logins),
 * then as many more as make the large figure. Each user passes through the in-process caches,
 * which are bounded (`TOKEN_MEMORY_CACHE_USERS`). After each phase a full GC is forced through the
 * inspector: the live heap is what the broker holds, resident memory what the container is charged.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config.ts'
import { ISSUE_ENDPOINT, brokerEnv, type BenchContext } from '../lib/context.ts'
import { chartMemory } from '../lib/chart.ts'
import { heapAfterGc, type HeapFigures } from '../lib/inspector.ts'
import { signTokens, userIds } from '../lib/jwt.ts'
import { round, runLoad, summary, type LoadResult } from '../lib/load.ts'
import { scrapeMetrics } from '../lib/metrics.ts'
import { freePort, memoryOf, startBroker, withBackends } from '../lib/processes.ts'
import { brokerProfile } from '../lib/profile.ts'
import { figure, type Figure, type ScenarioResult } from '../lib/report.ts'
import { seedTokens } from '../lib/seed.ts'

export const HEAP_TARGET_MIB = 64
export const RSS_TARGET_MIB = 192

export async function memory (ctx: BenchContext): Promise<ScenarioResult> {
  const { memoryUsers: users, memoryUsersLarge: usersLarge } = ctx.sizes
  const chart = chartMemory()
  return await withBackends(async ({ redis, emulator, track }) => {
    const env = brokerEnv(ctx, { emulator, redis, algorithm: 'HS256' })
    const cacheUsers = loadConfig(env, { runMode: 'production' }).tokens.memoryCacheUsers
    const inspectPort = await freePort()
    const broker = track(await startBroker('memory-broker', env, { inspectPort, ...(ctx.profileDir === undefined ? {} : { cpuProfileDir: ctx.profileDir }) }))
    const atStart = await heapAfterGc(inspectPort)

    // Users in batches, so the harness never holds a million JWTs at once.
    let served = 0
    const runs: LoadResult[] = []
    const serveUpTo = async (total: number): Promise<{ heap: HeapFigures, peakRssMiB: number }> => {
      const batch = 100_000
      while (served < total) {
        const ids = userIds(`mem${served}u`, Math.min(batch, total - served))
        await seedTokens(redis.client, env, ids)
        runs.push(await runLoad({ url: broker.url, tokens: signTokens(ids, 'HS256', ctx.keys), connections: ctx.sizes.connections, amount: ids.length, serverPid: broker.child.pid }))
        served += ids.length
        // Redis holds what Nexconn issued; the broker is what is measured. Keep Redis small.
        await redis.client.flushdb()
      }
      const peakRssMiB = memoryOf(broker.child.pid).peakRssMiB
      // Let the last responses' garbage go before the forced GC.
      await sleep(1_000)
      return { heap: await heapAfterGc(inspectPort), peakRssMiB }
    }
    const small = await serveUpTo(users)
    const large = await serveUpTo(usersLarge)
    const calls = (await emulator.control<{ calls: Record<string, number> }>('GET', '/stats')).calls[ISSUE_ENDPOINT] ?? 0
    const brokerMetrics = await scrapeMetrics(broker.url)
    await broker.stop()
    const hot = brokerProfile(ctx.profileDir, 'memory-broker')

    const cached = Math.min(users, cacheUsers)
    const perTenThousandMiB = (small.heap.heapUsedMiB - atStart.heapUsedMiB) / cached * 10_000
    const failed = runs.reduce((sum, run) => sum + run.failed, 0)
    const label = (n: number): string => n.toLocaleString('en-US')
    const phase = (n: number, at: { heap: HeapFigures, peakRssMiB: number }, targets: boolean): Figure[] => [
      figure(`live heap after a forced GC, ${label(n)} users`, round(at.heap.heapUsedMiB, 1), 'MiB', targets ? { text: `≤ ${HEAP_TARGET_MIB} MiB`, pass: at.heap.heapUsedMiB <= HEAP_TARGET_MIB } : undefined),
      figure(`resident memory after a forced GC, ${label(n)} users`, round(at.heap.rssMiB, 1), 'MiB', targets ? { text: `≤ ${RSS_TARGET_MIB} MiB`, pass: at.heap.rssMiB <= RSS_TARGET_MIB } : undefined),
      figure(`peak resident memory, ${label(n)} users`, round(at.peakRssMiB, 1), 'MiB', { text: `≤ ${chart.limitMiB} MiB (chart limit)`, pass: at.peakRssMiB <= chart.limitMiB })
    ]
    return {
      scenario: 'memory',
      figures: [
        figure('live heap after a forced GC, at start', round(atStart.heapUsedMiB, 1), 'MiB'),
        figure('resident memory at start', round(atStart.rssMiB, 1), 'MiB'),
        ...phase(users, small, true),
        figure(`heap per 10,000 users in the in-process cache (TOKEN_MEMORY_CACHE_USERS=${label(cacheUsers)})`, round(perTenThousandMiB, 2), 'MiB'),
        ...phase(usersLarge, large, false),
        figure('large-run heap growth over the first run', round(large.heap.heapUsedMiB - small.heap.heapUsedMiB, 1), 'MiB', { text: '≤ 8 MiB (bounded)', pass: large.heap.heapUsedMiB - small.heap.heapUsedMiB <= 8 }),
        figure('throughput (JWT verified + Redis read per user)', Math.round(runs.reduce((sum, run) => sum + run.rps, 0) / runs.length), 'req/s'),
        figure('client errors', failed, '', { text: '0', pass: failed === 0 }),
        figure('Nexconn issues', calls, '', { text: '0 (tokens in Redis)', pass: calls === 0 })
      ],
      details: { users, usersLarge, chart, nodeFlags: 'chart defaults', atStart, small, large, runs: runs.map(summary), brokerMetrics, ...(hot === undefined ? {} : { profile: hot }) }
    }
  })
}
