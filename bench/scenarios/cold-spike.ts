/**
 * Cold spike: N users nobody has seen ask for a token at the same moment (one connection each).
 * The emulator enforces Nexconn's 200 issues/s and adds 50 ms to every issue. The broker must
 * queue the requests within their deadline, stay under the quota, and call Nexconn once per user.
 * The deadline (NEXCONN_DEADLINE_MS) is set to what the queue needs: N / 200 seconds, plus 5 s
 * (and the shutdown grace with it, which the broker requires to cover the deadline).
 *
 * Achieved rate, measured at the emulator: under a limit of `quota` calls in any 1 s window, the
 * fastest schedule sends the first `quota` calls at once, the next `quota` one second later, and so
 * on, so K issues are at least T* = (⌈K / quota⌉ − 1) s apart from first to last. With T the observed
 * time from the first issue to the last, the achieved fraction of the quota is (T* + 1 s) / (T + 1 s):
 * 100 % is the fastest Nexconn allows (for 2,000 issues: 200/s for 10 s), anything slower shows below.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ISSUE_ENDPOINT, ISSUE_QUOTA_PER_S, brokerEnv, type BenchContext } from '../lib/context.ts'
import { signTokens, userIds } from '../lib/jwt.ts'
import { percentile, round, runLoad, summary } from '../lib/load.ts'
import { scrapeMetrics } from '../lib/metrics.ts'
import { startBroker, withBackends, type EmulatorProcess, type HttpServerProcess } from '../lib/processes.ts'
import { brokerProfile } from '../lib/profile.ts'
import { figure, type ScenarioResult } from '../lib/report.ts'

export const RATE_TARGET = 0.95
export const LATENCY_MS = 50
/** The emulator keeps its last 1,000 requests: read them early for the first issue's time. */
const FIRST_ISSUE_PROBE_MS = 2_000
const SETTLE_MAX_MS = 30_000

interface EmulatorStatsBody {
  calls: Record<string, number>
  succeeded: Record<string, number>
  callsByUser: Record<string, number>
  peakPerSecond: Record<string, number>
  peakSliding: Record<string, number>
  rejected: Record<string, number>
}

interface RecordedRequest { path: string, at: number }

/** A few requests for one user first, so the spike does not also measure JIT compilation. */
async function warmUp (emulator: EmulatorProcess, broker: HttpServerProcess, jwt: string): Promise<void> {
  await runLoad({ url: broker.url, tokens: [jwt], connections: 10, amount: 500 })
  await emulator.control('POST', '/reset')
  // The warm-up's issue keeps its quota slot for one window; let it pass.
  await sleep(1_200)
}

async function issueTimes (emulator: EmulatorProcess): Promise<number[]> {
  const recorded = await emulator.control<RecordedRequest[]>('GET', '/requests')
  return recorded.filter((r) => r.path === ISSUE_ENDPOINT).map((r) => r.at)
}

/** Issues grouped into bursts (gaps over 200 ms): start (ms after the first issue), length (ms), count. */
function bursts (times: number[], firstIssue: number): Array<{ startMs: number, lengthMs: number, issues: number }> {
  if (times.length === 0) return []
  const sorted = [...times].sort((a, b) => a - b)
  const found: Array<{ startMs: number, lengthMs: number, issues: number }> = []
  let start = sorted[0] ?? 0
  let previous = start
  let count = 0
  for (const at of [...sorted, Infinity]) {
    if (at - previous > 200) {
      found.push({ startMs: Math.round(start - firstIssue), lengthMs: Math.round(previous - start), issues: count })
      start = at
      count = 0
    }
    previous = at
    count++
  }
  return found
}

/** Waits (bounded) until the emulator's issue count stops moving: queued work finishes even for lost clients. */
async function settle (emulator: EmulatorProcess, expected: number): Promise<EmulatorStatsBody> {
  const deadline = Date.now() + SETTLE_MAX_MS
  let stats = await emulator.control<EmulatorStatsBody>('GET', '/stats')
  let stableSince = Date.now()
  while (Date.now() < deadline && (stats.calls[ISSUE_ENDPOINT] ?? 0) < expected && Date.now() - stableSince < 2_000) {
    await sleep(250)
    const next = await emulator.control<EmulatorStatsBody>('GET', '/stats')
    if ((next.calls[ISSUE_ENDPOINT] ?? 0) !== (stats.calls[ISSUE_ENDPOINT] ?? 0)) stableSince = Date.now()
    stats = next
  }
  return stats
}

export async function coldSpike (ctx: BenchContext): Promise<ScenarioResult> {
  const users = ctx.sizes.coldUsers
  return await withBackends(async ({ redis, emulator, track }) => {
    const deadlineMs = Math.ceil(users / ISSUE_QUOTA_PER_S) * 1000 + 5_000
    const env = brokerEnv(ctx, { emulator, redis, algorithm: 'HS256', extra: { NEXCONN_DEADLINE_MS: String(deadlineMs), SHUTDOWN_GRACE_MS: String(deadlineMs) } })
    const broker = track(await startBroker('cold-broker', env, ctx.profileDir === undefined ? {} : { cpuProfileDir: ctx.profileDir }))
    const [warmJwt = ''] = signTokens(['coldwarmup'], 'HS256', ctx.keys)
    await warmUp(emulator, broker, warmJwt)
    await emulator.control('POST', '/faults', { kind: 'latency', ms: LATENCY_MS, endpoint: ISSUE_ENDPOINT })

    const tokens = signTokens(userIds('cold', users), 'HS256', ctx.keys)
    const firstProbe = sleep(FIRST_ISSUE_PROBE_MS).then(async () => await issueTimes(emulator))
    const run = await runLoad({ url: broker.url, tokens, connections: users, amount: users, timeoutS: deadlineMs / 1000 + 10, serverPid: broker.child.pid })
    const stats = await settle(emulator, users)
    const brokerMetrics = await scrapeMetrics(broker.url)
    await broker.stop()
    const hot = brokerProfile(ctx.profileDir, 'cold-broker')
    const firstTimes = await firstProbe
    const firstIssue = Math.min(...firstTimes)
    const lastTimes = await issueTimes(emulator)
    const lastIssue = Math.max(...lastTimes)

    const issued = stats.succeeded[ISSUE_ENDPOINT] ?? 0
    const calls = stats.calls[ISSUE_ENDPOINT] ?? 0
    // NaN when the early probe saw no issue (the broker took over 2 s to start issuing).
    const spanS = Number.isFinite(firstIssue) && Number.isFinite(lastIssue) ? (lastIssue - firstIssue) / 1000 : NaN
    const minimumSpanS = Math.ceil(issued / ISSUE_QUOTA_PER_S) - 1
    const fraction = (minimumSpanS + 1) / (spanS + 1)
    const peak = Math.max(stats.peakSliding[ISSUE_ENDPOINT] ?? 0, stats.peakPerSecond[ISSUE_ENDPOINT] ?? 0)
    const maxPerUser = Math.max(0, ...Object.values(stats.callsByUser))

    return {
      scenario: 'cold spike',
      figures: [
        figure(`first to last issue at Nexconn (quota allows ${minimumSpanS} s)`, round(spanS, 2), 's'),
        figure('achieved issue rate', round(fraction * ISSUE_QUOTA_PER_S, 1), 'issues/s'),
        figure('achieved rate / quota', round(fraction * 100, 1), '%', { text: `≥ ${RATE_TARGET * 100} % of ${ISSUE_QUOTA_PER_S}/s`, pass: fraction >= RATE_TARGET }),
        figure('peak issues in any 1 s at Nexconn', peak, '', { text: `≤ ${ISSUE_QUOTA_PER_S}`, pass: peak <= ISSUE_QUOTA_PER_S }),
        figure('Nexconn calls per user', round(calls / users, 2), '', { text: '1.00', pass: calls === users && maxPerUser <= 1 }),
        figure('client errors', run.failed, '', { text: '0', pass: run.failed === 0 }),
        figure('of which: connections closed by the broker unanswered', run.lost, ''),
        figure('client p99 latency (answered requests)', round(percentile(run.latencies, 99), 0), 'ms')
      ],
      details: {
        users,
        deadlineMs,
        emulatorLatencyMs: LATENCY_MS,
        spanS: round(spanS, 2),
        p50Ms: round(percentile(run.latencies, 50), 1),
        issueCalls: calls,
        issueSucceeded: issued,
        maxCallsForOneUser: maxPerUser,
        rejectedByNexconn: stats.rejected,
        peakSliding: stats.peakSliding[ISSUE_ENDPOINT] ?? 0,
        peakPerSecond: stats.peakPerSecond[ISSUE_ENDPOINT] ?? 0,
        run: summary(run),
        // Where the time goes: each burst of issues (the first and the last 1,000 the emulator kept), from its first to its last arrival.
        firstBursts: bursts(firstTimes, firstIssue),
        lastBursts: bursts(lastTimes, firstIssue),
        brokerMetrics,
        ...(hot === undefined ? {} : { profile: hot })
      }
    }
  })
}
