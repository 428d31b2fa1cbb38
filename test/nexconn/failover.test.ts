/**
 * Failover inside one call: every way the primary can fail ends in a success on the backup within
 * the deadline. Timing assertions are upper bounds with generous margins (busy 2-core CI machines).
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Emulator, FaultSpec } from '../../src/emulator/index.ts'
import { NexconnError } from '../../src/errors.ts'
import { createNexconnClient } from '../../src/nexconn/index.ts'
import { capturingLogger, client, elapsedSince, emulator, ISSUE, nexconnConfig, rejection } from './helpers.ts'

/** Short enough for quick tests, long enough for a loaded machine to answer a healthy request. */
const TIMEOUT_MS = 1000
const DEADLINE_MS = 4000
const MARGIN_MS = 1500
const env = { NEXCONN_TIMEOUT_MS: String(TIMEOUT_MS), NEXCONN_DEADLINE_MS: String(DEADLINE_MS) }

interface Case {
  name: string
  /** False for an answer about this one call, which fails over without demoting the domain. */
  demotes?: boolean
  /** Breaks the primary; returns the URL list to configure when it changes it. */
  breakPrimary: (emu: Emulator) => Promise<string[] | undefined> | string[] | undefined
}

const onPrimary = (fault: FaultSpec) => (emu: Emulator): undefined => { emu.addFault({ ...fault, port: 0 }); return undefined }

const cases: Case[] = [
  { name: 'refuses connections', breakPrimary: async (emu) => { await emu.pause(0); return undefined } },
  { name: 'never answers (hang)', breakPrimary: onPrimary({ kind: 'hang' }) },
  { name: 'answers HTTP 500', breakPrimary: onPrimary({ kind: 'status', status: 500 }) },
  { name: 'answers HTTP 503', breakPrimary: onPrimary({ kind: 'status', status: 503 }) },
  { name: 'drips one byte every 100 ms', breakPrimary: onPrimary({ kind: 'drip', ms: 100 }) },
  { name: 'resets the connection', breakPrimary: onPrimary({ kind: 'reset' }) },
  { name: 'sends malformed JSON', breakPrimary: onPrimary({ kind: 'malformed' }) },
  { name: 'names another user', demotes: false, breakPrimary: onPrimary({ kind: 'wrong_user' }) },
  { name: 'answers business error 1000 (internal)', breakPrimary: onPrimary({ kind: 'business_error', code: 1000 }) },
  { name: 'does not resolve (.invalid host)', breakPrimary: (emu) => ['https://nexconn-primary.invalid', emu.urls[1] ?? ''] }
]

for (const c of cases) {
  t.test(`primary ${c.name} → the call succeeds on the backup within the deadline`, async (t) => {
    const emu = await emulator(t)
    const urls = await c.breakPrimary(emu)
    const log = capturingLogger()
    const nexconn = client(t, emu, { env, ...(urls === undefined ? {} : { urls }), deps: { logger: log.logger } })
    const started = performance.now()
    const result = await nexconn.issueToken({ userId: 'alice', name: 'Alice' })
    const elapsed = elapsedSince(started)
    t.ok(elapsed < DEADLINE_MS + MARGIN_MS, `within the deadline (${Math.round(elapsed)} ms)`)
    t.equal(emu.tokenStatus(result.token).valid, true, 'a real token for the asked user')
    t.equal(emu.tokenStatus(result.token).userId, 'alice')
    const served = emu.requests().filter((r) => r.status === 200 && r.code === 0 && r.port === 1)
    t.ok(served.length >= 1, 'the backup served it')
    if (c.demotes === false) {
      t.same(nexconn.health().domains.map((d) => d.state), ['healthy', 'healthy'], 'an answer about this call demotes no domain')
      t.equal(log.lines.filter((l) => l.msg === 'nexconn domain demoted').length, 0)
    } else {
      t.same(nexconn.health().domains.map((d) => d.state), ['demoted', 'healthy'])
      t.equal(nexconn.health().status, 'degraded', 'degraded while the primary is demoted')
      t.equal(log.lines.filter((l) => l.msg === 'nexconn domain demoted').length, 1, 'one log line for the state change')
    }
    t.notMatch(log.text(), new RegExp(result.token.replace(/[+/=]/g, '.')), 'the token is not logged')
  })
}

t.test('a demoted primary is skipped by later calls, with no log line per call', async (t) => {
  const emu = await emulator(t)
  const log = capturingLogger()
  const nexconn = client(t, emu, { env, deps: { logger: log.logger } })
  emu.addFault({ kind: 'status', status: 500, port: 0 })
  for (let i = 0; i < 5; i++) await nexconn.issueToken({ userId: `u${i}`, name: 'U' })
  t.same(emu.stats().byPort, [1, 5], 'the primary was tried once')
  t.equal(log.lines.filter((l) => (l.level as number) >= 40).length, 1, 'one warning in all')
})

t.test('the primary is used again once it recovers (cool-off ended, probe succeeded)', async (t) => {
  const emu = await emulator(t)
  const domainEvents: unknown[] = []
  const nexconn = client(t, emu, { env, deps: { tuning: { coolOffMs: 300 }, hooks: { onDomainState: (e) => { domainEvents.push(e) } } } })
  emu.addFault({ kind: 'status', status: 500, port: 0, times: 1 })
  await nexconn.issueToken({ userId: 'a1', name: 'A' })
  await nexconn.issueToken({ userId: 'a2', name: 'A' })
  t.same(emu.stats().byPort, [1, 2], 'first failed on the primary; the second went straight to the backup')
  await sleep(400)
  await nexconn.issueToken({ userId: 'a3', name: 'A' })
  await nexconn.issueToken({ userId: 'a4', name: 'A' })
  t.same(emu.stats().byPort, [3, 2], 'back on the primary')
  t.same(nexconn.health(), { status: 'ok', domains: [{ url: emu.urls[0], state: 'healthy' }, { url: emu.urls[1], state: 'healthy' }] })
  t.same(domainEvents, [{ domain: emu.urls[0], state: 'demoted' }, { domain: emu.urls[0], state: 'healthy' }])
})

t.test('a still-failing primary is probed by one call at a time after the cool-off', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu, { env, deps: { tuning: { coolOffMs: 200 } } })
  emu.addFault({ kind: 'hang', port: 0 })
  await nexconn.issueToken({ userId: 'b0', name: 'B' })
  await sleep(300)
  const started = performance.now()
  await Promise.all(Array.from({ length: 10 }, async (_, i) => await nexconn.issueToken({ userId: `b${i + 1}`, name: 'B' })))
  t.ok(elapsedSince(started) < 2 * TIMEOUT_MS + MARGIN_MS, 'the concurrent calls finished')
  t.same(emu.stats().byPort, [2, 11], 'one probe (plus the first failure) reached the hung primary')
  t.equal(nexconn.health().domains[0]?.state, 'demoted')
})

t.test('every attempt is signed afresh (the strict emulator refuses a reused nonce)', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu, { env: { ...env, NEXCONN_DEADLINE_MS: '6000' } })
  emu.addFault({ kind: 'status', status: 503, times: 3 })
  const result = await nexconn.issueToken({ userId: 'carol', name: 'Carol' })
  t.equal(emu.tokenStatus(result.token).valid, true)
  const requests = emu.requests()
  t.equal(requests.length, 4, 'three failures, then success, within one call')
  t.same(requests.map((r) => r.port), [0, 1, 0, 1], 'alternating domains')
  t.equal(new Set(requests.map((r) => r.headers.nonce)).size, 4, 'four distinct nonces')
  t.equal(new Set(requests.map((r) => r.headers['x-request-id'])).size, 1, 'one request id for the whole call')
})

t.test('both domains refusing → `unavailable` at once', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu, { env })
  await emu.pause(0)
  await emu.pause(1)
  const started = performance.now()
  const err = await rejection(nexconn.issueToken({ userId: 'dan', name: 'Dan' }))
  t.ok(err instanceof NexconnError)
  t.match(err, { reason: 'unavailable', retryable: true })
  t.ok(elapsedSince(started) < DEADLINE_MS + MARGIN_MS)
  t.equal(nexconn.health().status, 'degraded')
})

t.test('both domains hanging → `unavailable` within the deadline', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu, { env })
  emu.addFault({ kind: 'hang' })
  const started = performance.now()
  const err = await rejection(nexconn.issueToken({ userId: 'dan', name: 'Dan' }))
  const elapsed = elapsedSince(started)
  t.match(err, { reason: 'unavailable' })
  t.ok(elapsed < DEADLINE_MS + MARGIN_MS, `gave up within the deadline (${Math.round(elapsed)} ms)`)
  t.ok(elapsed >= 2 * TIMEOUT_MS - 100, 'after trying both domains')
  t.ok(emu.requests().length >= 2)
})

t.test('both domains dripping → `unavailable` within the deadline (the drip is cut off)', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu, { env: { NEXCONN_TIMEOUT_MS: '3000', NEXCONN_DEADLINE_MS: '3000' } })
  emu.addFault({ kind: 'drip', ms: 50 })
  const started = performance.now()
  const err = await rejection(nexconn.issueToken({ userId: 'dan', name: 'Dan' }))
  t.match(err, { reason: 'unavailable' })
  t.ok(elapsedSince(started) < 3000 + MARGIN_MS, `cut off at the deadline (${Math.round(elapsedSince(started))} ms)`)
})

t.test('a shorter per-call deadline is honoured', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu, { env })
  emu.addFault({ kind: 'hang' })
  const started = performance.now()
  t.match(await rejection(nexconn.issueToken({ userId: 'eve', name: 'Eve' }, { deadlineMs: 500 })), { reason: 'unavailable' })
  t.ok(elapsedSince(started) < 500 + MARGIN_MS)
})

t.test('every answer unusable → `invalid_response`', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu, { env })
  emu.addFault({ kind: 'wrong_user' })
  t.match(await rejection(nexconn.issueToken({ userId: 'fay', name: 'Fay' })), { reason: 'invalid_response', retryable: true })
  t.equal(emu.stats().registeredUsers, 0, 'the asked user never got a token')
})

t.test('a base URL path prefix is kept', async (t) => {
  const emu = await emulator(t)
  const config = nexconnConfig([`${emu.urls[0] ?? ''}/prefix`], emu.appKey, emu.appSecret, env)
  const nexconn = createNexconnClient(config, { logger: capturingLogger().logger })
  t.teardown(() => nexconn.close())
  await rejection(nexconn.issueToken({ userId: 'gus', name: 'Gus' }))
  t.equal(emu.requests()[0]?.path, `/prefix${ISSUE}`)
})
