/**
 * Hit path: N distinct users (each with its own JWT) whose tokens are cached, against a bare
 * Fastify server answering the same-sized JSON. Both are child processes started the same way,
 * loaded by the same autocannon settings, warmed up, then measured in alternated rounds
 * (broker, reference, reference, broker, …, so slow drifts of the machine hit both equally).
 * Run once with HS256 JWTs and once with RS256.
 */
import { ISSUE_ENDPOINT, brokerEnv, type BenchContext } from '../lib/context.ts'
import { signTokens, userIds, type Algorithm } from '../lib/jwt.ts'
import { percentile, pooledLatencies, round, runLoad, summary, type LoadResult } from '../lib/load.ts'
import { scrapeMetrics } from '../lib/metrics.ts'
import { startBroker, startEmulator, startRedis, startReference, type EmulatorProcess, type HttpServerProcess, type RedisProcess } from '../lib/processes.ts'
import { brokerProfile } from '../lib/profile.ts'
import { figure, type Figure, type ScenarioResult } from '../lib/report.ts'
import { seedTokens } from '../lib/seed.ts'

export const RATIO_TARGET = 0.6
export const P99_TARGET_MS = 10
/** Open-loop round: latency at a steady, realistic load instead of at saturation. */
export const FIXED_RATE_PER_S = 2_000

interface Measured { rps: number, p50: number, p99: number, failed: number, cpuUsPerRequest: number, rounds: LoadResult[] }

function measured (rounds: LoadResult[]): Measured {
  const latencies = pooledLatencies(rounds)
  const sum = (f: (r: LoadResult) => number): number => rounds.reduce((n, r) => n + f(r), 0)
  return {
    rps: sum((r) => r.requests) / sum((r) => r.durationS),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failed: sum((r) => r.failed),
    // CPU time per request barely depends on what else runs on the machine, unlike requests/s.
    cpuUsPerRequest: (sum((r) => r.serverCpuS) / sum((r) => r.requests)) * 1e6,
    rounds
  }
}

async function firstAnswer (url: string, jwt: string): Promise<{ status: number, body: string }> {
  const res = await fetch(`${url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` }, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: await res.text() }
}

interface Comparison { broker: Measured, reference: Measured, brokerFixed: LoadResult, referenceFixed: LoadResult }

/**
 * Warm-up (every user `warmupPasses` times on each), then alternated closed-loop rounds (as fast as
 * each server answers), then one open-loop round each at FIXED_RATE_PER_S.
 */
async function compare (ctx: BenchContext, broker: HttpServerProcess, reference: HttpServerProcess, tokens: string[], afterWarmUp: () => Promise<void>): Promise<Comparison> {
  const { sizes } = ctx
  const load = async (target: HttpServerProcess, kind: 'warm-up' | 'round' | 'fixed'): Promise<LoadResult> => await runLoad({
    url: target.url,
    tokens,
    connections: sizes.connections,
    serverPid: target.child.pid,
    ...(kind === 'warm-up' ? { amount: sizes.warmupPasses * tokens.length } : { durationS: sizes.roundS }),
    ...(kind === 'fixed' ? { ratePerS: FIXED_RATE_PER_S } : {})
  })
  await load(broker, 'warm-up')
  await load(reference, 'warm-up')
  await afterWarmUp()
  const brokerRounds: LoadResult[] = []
  const referenceRounds: LoadResult[] = []
  for (let i = 0; i < sizes.rounds; i++) {
    const order = i % 2 === 0 ? ['broker', 'reference'] : ['reference', 'broker']
    for (const which of order) {
      if (which === 'broker') brokerRounds.push(await load(broker, 'round'))
      else referenceRounds.push(await load(reference, 'round'))
    }
  }
  const brokerFixed = await load(broker, 'fixed')
  const referenceFixed = await load(reference, 'fixed')
  return { broker: measured(brokerRounds), reference: measured(referenceRounds), brokerFixed, referenceFixed }
}

export async function hitPath (ctx: BenchContext): Promise<ScenarioResult> {
  const figures: Figure[] = []
  const details: Record<string, unknown> = {}
  let redis: RedisProcess | undefined
  let emulator: EmulatorProcess | undefined
  let reference: HttpServerProcess | undefined
  try {
    redis = await startRedis()
    emulator = await startEmulator()
    const ids = userIds('hit', ctx.sizes.hitUsers)
    await seedTokens(redis.client, brokerEnv(ctx, { emulator, redis, algorithm: 'HS256' }), ids)

    for (const algorithm of ['HS256', 'RS256'] as Algorithm[]) {
      const tokens = signTokens(ids, algorithm, ctx.keys)
      const name = `hit-broker-${algorithm}`
      const broker = await startBroker(name, brokerEnv(ctx, { emulator, redis, algorithm }), ctx.profileDir === undefined ? {} : { cpuProfileDir: ctx.profileDir })
      try {
        const sample = await firstAnswer(broker.url, tokens[0] ?? '')
        if (sample.status !== 200) throw new Error(`broker answered ${sample.status}: ${sample.body}`)
        // The reference answers the broker's own JSON: same fields, same byte length.
        reference ??= await startReference('hit-reference', JSON.parse(sample.body))
        const referenceSample = await firstAnswer(reference.url, tokens[0] ?? '')
        details.bodyBytes = { broker: Buffer.byteLength(sample.body), reference: Buffer.byteLength(referenceSample.body) }

        const redisProcess = redis
        const result = await compare(ctx, broker, reference, tokens, async () => { await redisProcess.resetCommandCounts() })
        const brokerMetrics = await scrapeMetrics(broker.url)
        const redisCommands = await redis.commandCounts()
        const measuredRequests = result.broker.rounds.reduce((n, r) => n + r.requests, 0) + result.brokerFixed.requests
        const redisPerRequest = Object.values(redisCommands).reduce((a, b) => a + b, 0) / measuredRequests
        const ratio = result.broker.rps / result.reference.rps
        const label = `${algorithm}:`
        figures.push(
          figure(`${label} broker requests/s`, Math.round(result.broker.rps), 'req/s'),
          figure(`${label} bare Fastify requests/s`, Math.round(result.reference.rps), 'req/s'),
          figure(`${label} broker / bare Fastify`, round(ratio * 100, 1), '%',
            algorithm === 'HS256' ? { text: `≥ ${RATIO_TARGET * 100} %`, pass: ratio >= RATIO_TARGET } : undefined),
          figure(`${label} broker CPU per request`, round(result.broker.cpuUsPerRequest, 1), 'µs'),
          figure(`${label} bare Fastify CPU per request`, round(result.reference.cpuUsPerRequest, 1), 'µs'),
          figure(`${label} bare Fastify CPU / broker CPU per request`, round((result.reference.cpuUsPerRequest / result.broker.cpuUsPerRequest) * 100, 1), '%'),
          figure(`${label} broker p50 latency`, round(result.broker.p50, 2), 'ms'),
          figure(`${label} broker p99 latency`, round(result.broker.p99, 2), 'ms', { text: `< ${P99_TARGET_MS} ms`, pass: result.broker.p99 < P99_TARGET_MS }),
          figure(`${label} bare Fastify p99 latency`, round(result.reference.p99, 2), 'ms'),
          figure(`${label} broker p99 at a steady ${FIXED_RATE_PER_S.toLocaleString('en-US')} req/s`, round(percentile(result.brokerFixed.latencies, 99), 2), 'ms'),
          figure(`${label} bare Fastify p99 at a steady ${FIXED_RATE_PER_S.toLocaleString('en-US')} req/s`, round(percentile(result.referenceFixed.latencies, 99), 2), 'ms'),
          figure(`${label} Redis commands per cache hit`, round(redisPerRequest, 2), ''),
          figure(`${label} broker errors`, result.broker.failed + result.brokerFixed.failed, '', { text: '0', pass: result.broker.failed + result.brokerFixed.failed === 0 })
        )
        details[algorithm] = {
          broker: result.broker.rounds.map(summary),
          reference: result.reference.rounds.map(summary),
          brokerFixedRate: summary(result.brokerFixed),
          referenceFixedRate: summary(result.referenceFixed),
          brokerMetrics,
          redisCommands,
          referenceP50Ms: round(result.reference.p50, 2)
        }
      } finally {
        await broker.stop()
      }
      const hot = brokerProfile(ctx.profileDir, name)
      if (hot !== undefined) details[`${algorithm}Profile`] = hot
    }
    const calls = (await emulator.control<{ calls: Record<string, number> }>('GET', '/stats')).calls[ISSUE_ENDPOINT] ?? 0
    figures.push(figure('Nexconn issues during the hit path', calls, '', { text: '0 (all cache hits)', pass: calls === 0 }))
    return { scenario: 'hit path', figures, details }
  } finally {
    await reference?.stop()
    await emulator?.stop()
    await redis?.stop()
  }
}
