/**
 * Hit path: N distinct users (each with its own JWT) whose tokens are cached, against a bare
 * Fastify server answering the same-sized JSON. Both are child processes started the same way and
 * loaded by the same generators (wrk.ts): wrk in closed loop (as fast as each answers), then the
 * open-loop generator at a steady rate, each in alternated rounds (broker, reference, reference,
 * broker, …, so slow drifts of the machine hit both equally). Every figure is the median of the
 * rounds, with its min–max spread. Run once with HS256 JWTs and once with RS256.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ISSUE_ENDPOINT, brokerEnv, type BenchContext } from '../lib/context.ts'
import { signTokens, userIds, type Algorithm } from '../lib/jwt.ts'
import { round } from '../lib/load.ts'
import { scrapeMetrics } from '../lib/metrics.ts'
import { startBroker, startEmulator, startRedis, startReference, type EmulatorProcess, type HttpServerProcess, type RedisProcess } from '../lib/processes.ts'
import { brokerProfile } from '../lib/profile.ts'
import { figure, spreadText, type Figure, type ScenarioResult } from '../lib/report.ts'
import { seedTokens } from '../lib/seed.ts'
import { closedLoop, openLoop, spread, writeTokens, type LoadTarget, type Round } from '../lib/wrk.ts'

/** Requests/s of the broker over bare Fastify's (HS256). */
export const RATIO_TARGET = 0.65
/** Bare Fastify's CPU per request over the broker's (HS256). */
export const CPU_RATIO_TARGET = 0.6
/** RS256's requests/s ratio may be at most this many points below HS256's. */
export const RS256_GAP_POINTS = 5
/** Open-loop rounds: a steady, realistic load instead of saturation. */
export const FIXED_RATE_PER_S = 2_000
/** At that rate, the broker's p99 may exceed bare Fastify's by at most this. */
export const FIXED_P99_GAP_MS = 3
const OPEN_LOOP_CONNECTIONS = 64

interface Side { closed: Round[], open: Round[] }
interface Comparison { broker: Side, reference: Side }

async function firstAnswer (url: string, jwt: string): Promise<{ status: number, body: string }> {
  const res = await fetch(`${url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` }, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: await res.text() }
}

/** Warm-up on each, then alternated closed-loop rounds, then alternated open-loop rounds. */
async function compare (ctx: BenchContext, broker: LoadTarget, reference: LoadTarget, tokensFile: string, afterWarmUp: () => Promise<void>): Promise<Comparison> {
  const { sizes } = ctx
  const closed = async (target: LoadTarget, durationS: number): Promise<Round> => await closedLoop(target, { tokensFile, connections: sizes.connections, durationS })
  const open = async (target: LoadTarget): Promise<Round> => await openLoop(target, { tokensFile, connections: OPEN_LOOP_CONNECTIONS, durationS: sizes.roundS, ratePerS: FIXED_RATE_PER_S })
  await closed(broker, sizes.warmupS)
  await closed(reference, sizes.warmupS)
  await afterWarmUp()
  const result: Comparison = { broker: { closed: [], open: [] }, reference: { closed: [], open: [] } }
  for (const kind of ['closed', 'open'] as const) {
    for (let i = 0; i < sizes.rounds; i++) {
      const order = i % 2 === 0 ? (['broker', 'reference'] as const) : (['reference', 'broker'] as const)
      for (const which of order) {
        const target = which === 'broker' ? broker : reference
        result[which][kind].push(kind === 'closed' ? await closed(target, sizes.roundS) : await open(target))
      }
    }
  }
  return result
}

/** The rounds' figures as the JSON report keeps them. */
function rounds (side: Round[]): Array<Record<string, number>> {
  return side.map((r) => ({
    requests: r.requests,
    failed: r.failed,
    rps: Math.round(r.rps),
    p50Ms: round(r.p50Ms, 2),
    p99Ms: round(r.p99Ms, 2),
    p999Ms: round(r.p999Ms, 2),
    maxMs: round(r.maxMs, 2),
    serverCpuPct: Math.round(r.serverCpuPct),
    serverCpuUsPerRequest: round(r.serverCpuUsPerRequest, 1),
    loadgenCpuPct: Math.round(r.loadgenCpuPct)
  }))
}

export async function hitPath (ctx: BenchContext): Promise<ScenarioResult> {
  const figures: Figure[] = []
  const details: Record<string, unknown> = {}
  const ratios: Partial<Record<Algorithm, number>> = {}
  const dir = mkdtempSync(join(tmpdir(), 'ctb-hit-'))
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
      const tokensFile = writeTokens(dir, algorithm, tokens)
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
        const result = await compare(ctx, { url: broker.url, pid: broker.child.pid }, { url: reference.url, pid: reference.child.pid }, tokensFile,
          async () => { await redisProcess.resetCommandCounts() })
        const brokerMetrics = await scrapeMetrics(broker.url)
        const redisCommands = await redis.commandCounts()
        const measuredRequests = [...result.broker.closed, ...result.broker.open].reduce((n, r) => n + r.requests, 0)
        const redisPerRequest = Object.values(redisCommands).reduce((a, b) => a + b, 0) / measuredRequests

        const of = (rs: Round[], f: (r: Round) => number): ReturnType<typeof spread> => spread(rs.map(f))
        const rps = { broker: of(result.broker.closed, (r) => r.rps), reference: of(result.reference.closed, (r) => r.rps) }
        // Per round pair, so a slow moment of the machine weighs on both sides of each ratio.
        const ratio = spread(result.broker.closed.map((r, i) => r.rps / (result.reference.closed[i]?.rps ?? NaN)))
        const cpu = { broker: of(result.broker.closed, (r) => r.serverCpuUsPerRequest), reference: of(result.reference.closed, (r) => r.serverCpuUsPerRequest) }
        const cpuRatio = cpu.reference.median / cpu.broker.median
        const p99 = { broker: of(result.broker.closed, (r) => r.p99Ms), reference: of(result.reference.closed, (r) => r.p99Ms) }
        const fixed = { broker: of(result.broker.open, (r) => r.p99Ms), reference: of(result.reference.open, (r) => r.p99Ms) }
        const loadgen = of([...result.broker.closed, ...result.reference.closed], (r) => r.loadgenCpuPct)
        const failed = [...result.broker.closed, ...result.broker.open].reduce((n, r) => n + r.failed, 0)
        ratios[algorithm] = ratio.median
        const label = `${algorithm}:`
        const steady = FIXED_RATE_PER_S.toLocaleString('en-US')
        figures.push(
          figure(`${label} broker requests/s`, Math.round(rps.broker.median), 'req/s', undefined, spreadText(rps.broker, 0)),
          figure(`${label} bare Fastify requests/s`, Math.round(rps.reference.median), 'req/s', undefined, spreadText(rps.reference, 0)),
          figure(`${label} broker / bare Fastify (requests/s)`, round(ratio.median * 100, 1), '%',
            algorithm === 'HS256' ? { text: `≥ ${RATIO_TARGET * 100} %`, pass: ratio.median >= RATIO_TARGET } : undefined, spreadText(ratio, 1, 100)),
          figure(`${label} broker CPU per request`, round(cpu.broker.median, 1), 'µs', undefined, spreadText(cpu.broker, 1)),
          figure(`${label} bare Fastify CPU per request`, round(cpu.reference.median, 1), 'µs', undefined, spreadText(cpu.reference, 1)),
          figure(`${label} bare Fastify CPU / broker CPU per request`, round(cpuRatio * 100, 1), '%',
            algorithm === 'HS256' ? { text: `≥ ${CPU_RATIO_TARGET * 100} %`, pass: cpuRatio >= CPU_RATIO_TARGET } : undefined),
          figure(`${label} broker p99 latency (saturated)`, round(p99.broker.median, 2), 'ms', undefined, spreadText(p99.broker, 2)),
          figure(`${label} bare Fastify p99 latency (saturated)`, round(p99.reference.median, 2), 'ms', undefined, spreadText(p99.reference, 2)),
          figure(`${label} broker p99 at a steady ${steady} req/s`, round(fixed.broker.median, 2), 'ms',
            { text: `≤ bare Fastify + ${FIXED_P99_GAP_MS} ms`, pass: fixed.broker.median <= fixed.reference.median + FIXED_P99_GAP_MS }, spreadText(fixed.broker, 2)),
          figure(`${label} bare Fastify p99 at a steady ${steady} req/s`, round(fixed.reference.median, 2), 'ms', undefined, spreadText(fixed.reference, 2)),
          figure(`${label} load generator CPU (wrk)`, Math.round(loadgen.median), '% of a core', undefined, spreadText(loadgen, 0)),
          figure(`${label} Redis commands per cache hit`, round(redisPerRequest, 3), ''),
          figure(`${label} broker errors`, failed, '', { text: '0', pass: failed === 0 })
        )
        details[algorithm] = {
          broker: { closed: rounds(result.broker.closed), open: rounds(result.broker.open) },
          reference: { closed: rounds(result.reference.closed), open: rounds(result.reference.open) },
          brokerMetrics,
          redisCommands
        }
      } finally {
        await broker.stop()
      }
      const hot = brokerProfile(ctx.profileDir, name)
      if (hot !== undefined) details[`${algorithm}Profile`] = hot
    }
    const gap = ((ratios.HS256 ?? NaN) - (ratios.RS256 ?? NaN)) * 100
    figures.push(figure('RS256 ratio below HS256\'s', round(gap, 1), 'points', { text: `≤ ${RS256_GAP_POINTS}`, pass: gap <= RS256_GAP_POINTS }))
    const calls = (await emulator.control<{ calls: Record<string, number> }>('GET', '/stats')).calls[ISSUE_ENDPOINT] ?? 0
    figures.push(figure('Nexconn issues during the hit path', calls, '', { text: '0 (all cache hits)', pass: calls === 0 }))
    return { scenario: 'hit path', figures, details }
  } finally {
    await reference?.stop()
    await emulator?.stop()
    await redis?.stop()
  }
}
