/**
 * Regression: an answer about ONE user (an unknown business code, e.g. for a soft-deleted or
 * blocked user) made the broker try four times, demote both Nexconn domains and answer 503 with
 * Retry-After: 1, so the client retried forever while every other user paid for the demoted
 * domains; the same code with HTTP 403 was reported as the operator error "check App Key/Secret".
 * Now such answers are scoped to the request: no domain is demoted, each domain is tried once at
 * most, and the client gets a documented code.
 */
import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor, ISSUE } from '../helpers/broker.ts'

const issuesFor = (emulator: Awaited<ReturnType<typeof emulatorFor>>, userId: string): number =>
  emulator.requests().filter((r) => r.path === ISSUE && r.body.includes(`"userId":"${userId}"`)).length

t.test('an unknown code with HTTP 500 for one user: each domain tried once, none demoted, 503 with a long Retry-After', async (t) => {
  const emulator = await emulatorFor(t)
  const { app, logs } = await brokerFor(t, brokerEnv(emulator))
  emulator.addFault({ kind: 'business_error', code: 20604, status: 500, userId: 'doomed1' })

  const res = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('doomed1') })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'upstream_unavailable')
  t.equal(res.headers['retry-after'], '30', 'not a retry every second')
  t.equal(issuesFor(emulator, 'doomed1'), 2, 'one attempt per domain, no second round')
  t.same(app.nexconn.health().domains.map((d) => d.state), ['healthy', 'healthy'], 'no domain demoted')
  t.equal(logs.records().filter((r) => r.msg === 'nexconn domain demoted').length, 0)

  const before = emulator.requests().length
  const other = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('happy1') })
  t.equal(other.statusCode, 200, 'another user is served')
  const sent = emulator.requests().slice(before).filter((r) => r.path === ISSUE)
  t.same(sent.map((r) => r.port), [0], 'from the primary, at the first attempt')
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.json().components.nexconn, 'ok', 'readiness does not report Nexconn degraded for one user')
})

t.test('an unknown code with HTTP 403: upstream_refused, not an operator error; logged once with Nexconn\'s code and message', async (t) => {
  const emulator = await emulatorFor(t)
  const { app, logs } = await brokerFor(t, brokerEnv(emulator))
  emulator.addFault({ kind: 'business_error', code: 20605, status: 403, userId: 'blocked1' })

  for (let i = 0; i < 2; i++) {
    const res = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('blocked1') })
    t.equal(res.statusCode, 403)
    t.equal(res.json().code, 'upstream_refused')
    t.equal(res.headers['retry-after'], undefined, 'retrying will not help')
  }
  t.equal(issuesFor(emulator, 'blocked1'), 2, 'one attempt per request: a refusal is final')
  const records = logs.records()
  t.equal(records.filter((r) => r.level === 50).length, 0, 'nothing at error level')
  t.notOk(records.some((r) => String(r.msg).includes('credentials')), 'not reported as a credentials problem')
  const unknown = records.filter((r) => String(r.msg).includes('business code the broker does not know'))
  t.equal(unknown.length, 1, 'one line per unknown code, not per request')
  t.match(unknown[0], { level: 40, businessCode: 20605, httpStatus: 403, nexconnMessage: 'injected business error 20605' })
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /ctb_nexconn_call_duration_seconds_count\{[^}]*business_code="other"[^}]*\} 2/, 'counted under "other"')
  t.notMatch(metrics.body, /business_code="20605"/, 'an unknown code never becomes a label')
})

t.test('a soft-deleted user: upstream_refused by default, user_disabled once its code is listed; no Retry-After', async (t) => {
  const emulator = await emulatorFor(t)
  emulator.softDelete(['gone1'])
  const plain = await brokerFor(t, brokerEnv(emulator))
  const refused = await plain.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('gone1') })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'upstream_refused')

  const listed = await brokerFor(t, brokerEnv(emulator, { NEXCONN_USER_DISABLED_CODES: '99403, 20606' }))
  const disabled = await listed.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('gone1') })
  t.equal(disabled.statusCode, 403)
  t.match(disabled.json(), { code: 'user_disabled', detail: /soft-deleted or blocked/ })
  t.equal(disabled.headers['retry-after'], undefined)
  t.notOk(listed.logs.text.includes('does not know'), 'a listed code is not "unknown"')
  emulator.restore(['gone1'])
  t.equal((await listed.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('gone1') })).statusCode, 200, 'restored: served again')
})
