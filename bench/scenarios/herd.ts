/**
 * Login herd: N concurrent requests (one connection each) for ONE user nobody has seen, spread
 * evenly over several broker processes that share one Redis. Single flight in each process and
 * the Redis lock across them must turn the herd into exactly one Nexconn call; every client gets
 * that one token. The emulator adds 50 ms to the issue so the herd arrives while it is in flight.
 */
import { ISSUE_ENDPOINT, brokerEnv, type BenchContext } from '../lib/context.ts'
import { signTokens } from '../lib/jwt.ts'
import { percentile, pooledLatencies, round, runLoad, summary } from '../lib/load.ts'
import { startBroker, startEmulator, startRedis, type EmulatorProcess, type HttpServerProcess, type RedisProcess } from '../lib/processes.ts'
import { figure, type ScenarioResult } from '../lib/report.ts'

const LATENCY_MS = 50

export async function herd (ctx: BenchContext): Promise<ScenarioResult> {
  const { herdRequests, herdBrokers } = ctx.sizes
  let redis: RedisProcess | undefined
  let emulator: EmulatorProcess | undefined
  const brokers: HttpServerProcess[] = []
  try {
    redis = await startRedis()
    emulator = await startEmulator()
    const env = brokerEnv(ctx, { emulator, redis, algorithm: 'HS256' })
    for (let i = 0; i < herdBrokers; i++) brokers.push(await startBroker(`herd-broker-${i + 1}`, env))

    // Warm each process up (JIT) with another user, then forget those calls.
    const [warmJwt = '', herdJwt = ''] = signTokens(['herdwarmup', `herd${Date.now()}`], 'HS256', ctx.keys)
    for (const broker of brokers) await runLoad({ url: broker.url, tokens: [warmJwt], connections: 10, amount: 300 })
    await emulator.control('POST', '/reset')
    await emulator.control('POST', '/faults', { kind: 'latency', ms: LATENCY_MS, endpoint: ISSUE_ENDPOINT })

    const tokensServed = new Set<string>()
    const onBody = (status: number, body: string): void => {
      if (status === 200) tokensServed.add((JSON.parse(body) as { token: string }).token)
    }
    const runs = await Promise.all(brokers.map(async (broker, i) => {
      const share = Math.floor(herdRequests / herdBrokers) + (i < herdRequests % herdBrokers ? 1 : 0)
      return await runLoad({ url: broker.url, tokens: [herdJwt], connections: share, amount: share, timeoutS: 15, onBody })
    }))
    const stats = await emulator.control<{ calls: Record<string, number> }>('GET', '/stats')
    const calls = stats.calls[ISSUE_ENDPOINT] ?? 0
    const latencies = pooledLatencies(runs)
    const failed = runs.reduce((n, r) => n + r.failed, 0)

    return {
      scenario: 'herd',
      figures: [
        figure(`Nexconn calls for ${herdRequests} requests on ${herdBrokers} processes`, calls, '', { text: '1', pass: calls === 1 }),
        figure('distinct tokens served', tokensServed.size, '', { text: '1', pass: tokensServed.size === 1 }),
        figure('client p99 latency', round(percentile(latencies, 99), 1), 'ms'),
        figure('client errors', failed, '', { text: '0', pass: failed === 0 })
      ],
      details: {
        requests: herdRequests,
        brokers: herdBrokers,
        emulatorLatencyMs: LATENCY_MS,
        p50Ms: round(percentile(latencies, 50), 1),
        maxMs: round(latencies[latencies.length - 1] ?? NaN, 1),
        perBroker: runs.map(summary)
      }
    }
  } finally {
    await Promise.all(brokers.map(async (b) => { await b.stop() }))
    await emulator?.stop()
    await redis?.stop()
  }
}
