/**
 * Memory: one broker serves N distinct users (each once, each with its own JWT; their tokens are in
 * Redis, as after earlier logins). Every user then sits in the broker's in-process caches, which are
 * bounded; the resident memory of the process afterwards must stay within the target.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ISSUE_ENDPOINT, brokerEnv, type BenchContext } from '../lib/context.ts'
import { signTokens, userIds } from '../lib/jwt.ts'
import { round, runLoad, summary } from '../lib/load.ts'
import { scrapeMetrics } from '../lib/metrics.ts'
import { memoryOf, startBroker, withBackends } from '../lib/processes.ts'
import { brokerProfile } from '../lib/profile.ts'
import { figure, type ScenarioResult } from '../lib/report.ts'
import { seedTokens } from '../lib/seed.ts'

export const RSS_TARGET_MIB = 256

export async function memory (ctx: BenchContext): Promise<ScenarioResult> {
  const users = ctx.sizes.memoryUsers
  return await withBackends(async ({ redis, emulator, track }) => {
    const env = brokerEnv(ctx, { emulator, redis, algorithm: 'HS256' })
    const ids = userIds('mem', users)
    await seedTokens(redis.client, env, ids)
    const tokens = signTokens(ids, 'HS256', ctx.keys)

    const broker = track(await startBroker('memory-broker', env, ctx.profileDir === undefined ? {} : { cpuProfileDir: ctx.profileDir }))
    const atStart = memoryOf(broker.child.pid)
    const run = await runLoad({ url: broker.url, tokens, connections: ctx.sizes.connections, amount: users, serverPid: broker.child.pid })
    // Let the last responses' garbage go; no forced GC (production runs without --expose-gc).
    await sleep(2_000)
    const after = memoryOf(broker.child.pid)
    const calls = (await emulator.control<{ calls: Record<string, number> }>('GET', '/stats')).calls[ISSUE_ENDPOINT] ?? 0
    const brokerMetrics = await scrapeMetrics(broker.url)
    await broker.stop()
    const hot = brokerProfile(ctx.profileDir, 'memory-broker')

    return {
      scenario: 'memory',
      figures: [
        figure(`resident memory after ${users.toLocaleString('en-US')} users`, round(after.rssMiB, 1), 'MiB', { text: `≤ ${RSS_TARGET_MIB} MiB`, pass: after.rssMiB <= RSS_TARGET_MIB }),
        figure('peak resident memory', round(after.peakRssMiB, 1), 'MiB'),
        figure('resident memory at start', round(atStart.rssMiB, 1), 'MiB'),
        figure('throughput (JWT verified + Redis read per user)', Math.round(run.rps), 'req/s'),
        figure('client errors', run.failed, '', { text: '0', pass: run.failed === 0 }),
        figure('Nexconn issues', calls, '', { text: '0 (tokens in Redis)', pass: calls === 0 })
      ],
      details: { users, run: summary(run), brokerMetrics, ...(hot === undefined ? {} : { profile: hot }) }
    }
  })
}
