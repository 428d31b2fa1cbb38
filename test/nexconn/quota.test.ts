/**
 * Quota: calls stay under Nexconn's per-endpoint limit in ANY sliding second as the emulator measures
 * it, within one client and across replicas sharing Redis; a Nexconn 429 slows everyone down; a Redis
 * outage never fails a call.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis, waitFor } from '../helpers/redis.ts'
import { capturingLogger, client, elapsedSince, emulator, ISSUE, rejection } from './helpers.ts'

const BURST_ENV = { NEXCONN_DEADLINE_MS: '30000', SHUTDOWN_GRACE_MS: '30000' }

function redisClient (t: { teardown: (fn: () => unknown) => void }, url: string, options: Record<string, unknown> = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 1000, ...options })
  redis.on('error', () => { /* the tests stop and freeze Redis on purpose */ })
  t.teardown(() => { redis.disconnect() })
  return redis
}

t.test('a burst of 1,000 issue calls never exceeds 200 in any sliding second at Nexconn', async (t) => {
  const emu = await emulator(t)
  const waits: number[] = []
  const nexconn = client(t, emu, { env: BURST_ENV, deps: { hooks: { onQuotaWait: (e) => { if (e.admitted) waits.push(e.waitedMs) } } } })
  const started = performance.now()
  const results = await Promise.allSettled(Array.from({ length: 1000 }, async (_, i) => await nexconn.issueToken({ userId: `burst${i}`, name: 'B' })))
  const elapsed = elapsedSince(started)
  const stats = emu.stats()
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1000, 'all succeed')
  // More than 1000 only if a starved machine made attempts time out (they then fail over, within quota).
  t.ok((stats.calls[ISSUE] ?? 0) >= 1000)
  t.equal(stats.rejected['1008'], undefined, 'Nexconn never had to say 429')
  t.ok((stats.peakSliding[ISSUE] ?? Infinity) <= 200, `peak ${stats.peakSliding[ISSUE]} in a sliding second`)
  t.ok(elapsed >= 4000, `the quota spread the burst (${Math.round(elapsed)} ms)`)
  t.ok(elapsed < 30_000, 'within the raised deadline')
  t.ok(waits.length >= 1000, 'every attempt went through the quota')
  t.comment(`burst: ${Math.round(elapsed)} ms, peak sliding ${stats.peakSliding[ISSUE]}, peak fixed-second ${stats.peakPerSecond[ISSUE]}, longest quota wait ${Math.round(Math.max(...waits))} ms`)
})

t.test('two replicas sharing one Redis share the limit', async (t) => {
  const emu = await emulator(t)
  const server = await startRedis(t)
  const prefix = `test${process.pid}:`
  const a = client(t, emu, { env: BURST_ENV, deps: { redis: redisClient(t, server.url), redisKeyPrefix: prefix } })
  const b = client(t, emu, { env: BURST_ENV, deps: { redis: redisClient(t, server.url), redisKeyPrefix: prefix } })
  const started = performance.now()
  const results = await Promise.allSettled(Array.from({ length: 600 }, async (_, i) => await (i % 2 === 0 ? a : b).issueToken({ userId: `r${i}`, name: 'R' })))
  const elapsed = elapsedSince(started)
  const stats = emu.stats()
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 600, 'all succeed')
  t.ok((stats.peakSliding[ISSUE] ?? Infinity) <= 200, `peak ${stats.peakSliding[ISSUE]} in a sliding second across both`)
  t.ok(elapsed >= 2000, `a shared limit: 600 calls took ${Math.round(elapsed)} ms (two separate limits would allow ~1 s)`)
  const inspector = redisClient(t, server.url)
  const keys = await inspector.keys(`{${prefix}*`)
  t.ok(keys.length > 0 && keys.every((key) => key.includes(emu.appKey)), 'keys under the prefix and App Key')
  t.comment(`two replicas: 600 calls in ${Math.round(elapsed)} ms, peak sliding ${stats.peakSliding[ISSUE]}`)
})

t.test('a burst is admitted in one Redis round trip, not one per call', async (t) => {
  const emu = await emulator(t)
  const server = await startRedis(t)
  const inspector = redisClient(t, server.url)
  const nexconn = client(t, emu, { env: BURST_ENV, deps: { redis: redisClient(t, server.url), redisKeyPrefix: 'burst:' } })
  await inspector.config('RESETSTAT')
  const results = await Promise.allSettled(Array.from({ length: 200 }, async (_, i) => await nexconn.issueToken({ userId: `one${i}`, name: 'O' })))
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 200, 'all succeed')
  // Releases are one script each, sent (not awaited) after each answer: once every slot shows an end
  // time instead of the far-future in-flight one, all 200 have run; what is left is admission.
  const [windowKey] = await inspector.keys('*:window')
  await waitFor(async () => await inspector.zcount(windowKey!, '-inf', Date.now() + 10_000) === 200, 5_000)
  const admissions = scriptCalls(await inspector.info('commandstats')) - 200
  t.ok(admissions >= 1 && admissions <= 5, `${admissions} admission round trips for a burst of 200 (one per call would be 200)`)
})

/** EVALSHA and EVAL calls since the last CONFIG RESETSTAT. */
function scriptCalls (commandstats: string): number {
  return [...commandstats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0)
}

t.test('a 429 makes the client back off (Retry-After), then the call succeeds', async (t) => {
  const emu = await emulator(t, { retryAfterOn429: true })
  const nexconn = client(t, emu)
  emu.addFault({ kind: 'rate_limit', times: 1 })
  const started = performance.now()
  const result = await nexconn.issueToken({ userId: 'ann', name: 'Ann' })
  t.equal(emu.tokenStatus(result.token).valid, true)
  t.ok(elapsedSince(started) >= 900, 'waited for the 1 s Retry-After')
  const [first, second] = emu.requests()
  t.equal(first?.status, 429)
  t.equal(second?.status, 200)
  t.ok((second?.at ?? 0) - (first?.at ?? 0) >= 900, 'the retry came after the back-off')
  t.equal(first?.port, second?.port, 'a 429 is no reason to change domain')
  t.same(nexconn.health().domains.map((d) => d.state), ['healthy', 'healthy'])
})

t.test('under a persistent 429, calls back off together instead of hammering Nexconn', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu, { env: { NEXCONN_DEADLINE_MS: '5000' } })
  emu.addFault({ kind: 'rate_limit', endpoint: ISSUE })
  const started = performance.now()
  const errors = await Promise.all(Array.from({ length: 10 }, async (_, i) => await rejection(nexconn.issueToken({ userId: `p${i}`, name: 'P' }))))
  t.ok(errors.every((e) => e.reason === 'rate_limited' && e.retryable === true && (e.retryAfterS as number) >= 1), 'rate_limited, retryable, with Retry-After')
  t.ok(elapsedSince(started) < 5000 + 1500)
  const requests = emu.requests()
  t.ok(requests.length <= 20, `at most one retry per call: ${requests.length} requests (an immediate-retry loop would send hundreds)`)
  // The back-off starts when the first 429 comes back, so no retry can arrive within 1 s (the
  // default without Retry-After) of the very first request.
  const firstAt = requests[0]?.at ?? 0
  const seen = new Set<string>()
  const retries = requests.filter((r) => { const repeat = seen.has(r.body); seen.add(r.body); return repeat })
  t.ok(retries.length > 0)
  t.ok(retries.every((r) => r.at >= firstAt + 900), 'every retry waited for the back-off')
})

t.test('a 429 seen by one replica slows the other down (shared back-off in Redis)', async (t) => {
  const emu = await emulator(t, { retryAfterOn429: true })
  const server = await startRedis(t)
  const a = client(t, emu, { deps: { redis: redisClient(t, server.url), redisKeyPrefix: 'shared:' } })
  const b = client(t, emu, { deps: { redis: redisClient(t, server.url), redisKeyPrefix: 'shared:' } })
  emu.addFault({ kind: 'rate_limit', times: 1 })
  const first = a.issueToken({ userId: 'a1', name: 'A' })
  // B starts once A has seen the 429 and published the back-off.
  const inspector = redisClient(t, server.url)
  await waitFor(async () => (await inspector.keys('*:backoff')).length > 0, 5000, 5)
  await b.issueToken({ userId: 'b1', name: 'B' })
  await first
  const requests = emu.requests()
  const limited = requests.find((r) => r.status === 429)
  const fromB = requests.find((r) => r.body.includes('"b1"'))
  t.ok(limited !== undefined && fromB !== undefined)
  t.ok((fromB?.at ?? 0) - (limited?.at ?? 0) >= 900, 'the other replica waited for the back-off too')
})

t.test('our own queue: calls that cannot be admitted before their deadline fail fast with `rate_limited`', async (t) => {
  const emu = await emulator(t)
  // A slot frees a window (1 s) after its call ends: later than these calls' deadline.
  const nexconn = client(t, emu, { env: { NEXCONN_TIMEOUT_MS: '1000', NEXCONN_DEADLINE_MS: '1000' }, deps: { tuning: { limits: { [ISSUE]: 2 } } } })
  const started = performance.now()
  const results = await Promise.allSettled(Array.from({ length: 6 }, async (_, i) => await nexconn.issueToken({ userId: `q${i}`, name: 'Q' })))
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 2)
  const rejected = results.flatMap((r) => r.status === 'rejected' ? [r.reason as Record<string, unknown>] : [])
  t.ok(rejected.every((e) => e.reason === 'rate_limited' && (e.retryAfterS as number) >= 1))
  t.equal(emu.stats().calls[ISSUE], 2, 'nothing over the limit was sent')
  t.ok(elapsedSince(started) < 1000 + 1500)
})

t.test('a full queue turns calls away at once', async (t) => {
  const emu = await emulator(t)
  // The queue holds every call not yet admitted, including the one being admitted right now.
  const nexconn = client(t, emu, { deps: { tuning: { limits: { [ISSUE]: 1 }, maxQueue: 3 } } })
  const results = await Promise.allSettled(Array.from({ length: 5 }, async (_, i) => await nexconn.issueToken({ userId: `f${i}`, name: 'F' }, { deadlineMs: 5000 })))
  t.equal(results.filter((r) => r.status === 'rejected' && (r.reason as { reason?: string }).reason === 'rate_limited').length, 2, 'two turned away')
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 3, 'one at once, two after waiting in the queue')
})

t.test('Redis down: calls still succeed on the in-process limiter; one warning', async (t) => {
  const emu = await emulator(t)
  const server = await startRedis(t)
  const log = capturingLogger()
  const redis = redisClient(t, server.url, { enableOfflineQueue: false })
  const nexconn = client(t, emu, { deps: { redis, logger: log.logger } })
  await nexconn.issueToken({ userId: 'before', name: 'B' })
  await server.stop()
  const started = performance.now()
  for (let i = 0; i < 5; i++) await nexconn.issueToken({ userId: `down${i}`, name: 'D' })
  t.ok(elapsedSince(started) < 3000, 'no call waited long for Redis')
  t.equal(log.lines.filter((l) => l.level === 40 && String(l.msg).includes('Redis')).length, 1, 'one warning')
})

t.test('Redis frozen (no answer at all): the quota check is bounded, calls succeed', async (t) => {
  const emu = await emulator(t)
  const server = await startRedis(t)
  // No commandTimeout on purpose: the client's own race must bound the check.
  const redis = redisClient(t, server.url, { maxRetriesPerRequest: null })
  const nexconn = client(t, emu, { deps: { redis, tuning: { redisTimeoutMs: 200 } } })
  await nexconn.issueToken({ userId: 'warm', name: 'W' })
  server.freeze()
  t.teardown(() => { server.thaw() })
  const started = performance.now()
  await Promise.all(Array.from({ length: 5 }, async (_, i) => await nexconn.issueToken({ userId: `frozen${i}`, name: 'F' })))
  t.ok(elapsedSince(started) < 2500, `bounded (${Math.round(elapsedSince(started))} ms)`)
})
