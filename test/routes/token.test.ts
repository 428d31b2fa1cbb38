import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor, ISSUE, issueCalls, jwtFor } from '../helpers/broker.ts'

t.test('cold then warm: one Nexconn call, the documented body and headers', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))

  const cold = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('alice1') })
  t.equal(cold.statusCode, 200)
  t.equal(cold.headers['cache-control'], 'no-store')
  t.match(cold.headers['x-request-id'], /\S+/)
  const body = cold.json()
  t.same(Object.keys(body).sort(), ['appKey', 'expiresAt', 'issuedAt', 'token', 'userId'])
  t.equal(body.userId, 'alice1')
  t.equal(body.appKey, emulator.appKey)
  t.equal(body.expiresAt, null)
  t.ok(Math.abs(Date.parse(body.issuedAt) - Date.now()) < 60_000, 'issuedAt is an ISO time of now')
  t.same(emulator.tokenStatus(body.token), { valid: true, userId: 'alice1' })

  const warm = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('alice1') })
  t.equal(warm.statusCode, 200)
  t.same(warm.json(), body, 'the same token from cache')
  t.equal(issueCalls(emulator), 1, 'Nexconn was called once')

  const recorded = emulator.requests().filter((r) => r.path === ISSUE)
  t.same(JSON.parse(recorded[0]?.body ?? '{}'), { userId: 'alice1', name: 'User alice1' }, 'name from the JWT reached Nexconn')
  t.equal(recorded[0]?.headers['x-request-id'], cold.headers['x-request-id'], 'the request id reached Nexconn')
})

t.test('a caller-supplied X-Request-ID is echoed and forwarded; an unsafe one is replaced', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))
  const ok = await app.inject({ method: 'POST', url: '/v1/token', headers: { ...bearer('bob1'), 'x-request-id': 'trace-123' } })
  t.equal(ok.headers['x-request-id'], 'trace-123')
  t.equal(emulator.requests().at(-1)?.headers['x-request-id'], 'trace-123')
  const bad = await app.inject({ method: 'POST', url: '/v1/token', headers: { ...bearer('bob1'), 'x-request-id': 'a b\tc' } })
  t.not(bad.headers['x-request-id'], 'a b\tc')
  t.match(bad.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})

t.test('500 concurrent requests for one new user: one Nexconn call', async (t) => {
  const emulator = await emulatorFor(t)
  emulator.addFault({ kind: 'latency', ms: 200, endpoint: ISSUE })
  const { app } = await brokerFor(t, brokerEnv(emulator))
  const jwt = jwtFor('herd1')
  const responses = await Promise.all(Array.from({ length: 500 }, async () => await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${jwt}` } })))
  t.same(new Set(responses.map((r) => r.statusCode)), new Set([200]))
  t.equal(new Set(responses.map((r) => r.json().token)).size, 1, 'everyone got the same token')
  t.equal(issueCalls(emulator), 1)
})

t.test('forceRefresh issues a new token at most once per 30 s', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))
  const first = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('carol1') })).json()
  const forced = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('carol1'), payload: { forceRefresh: true } })
  t.equal(forced.statusCode, 200)
  t.not(forced.json().token, first.token, 'a new token')
  t.ok(Date.parse(forced.json().issuedAt) >= Date.parse(first.issuedAt))
  const again = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('carol1'), payload: { forceRefresh: true } })
  t.equal(again.json().token, forced.json().token, 'within 30 s the current token is returned')
  const plain = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('carol1') })
  t.equal(plain.json().token, forced.json().token, 'the refreshed token is the cached one')
  t.equal(issueCalls(emulator), 2)
  t.equal(emulator.tokenStatus(first.token).valid, true, 'Nexconn keeps older tokens valid')
})

t.test('logout drops the cached token; revoke=true also expires it at Nexconn', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))
  const first = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('dave1') })).json()

  const logout = await app.inject({ method: 'DELETE', url: '/v1/token', headers: bearer('dave1') })
  t.equal(logout.statusCode, 204)
  t.equal(logout.body, '')
  const second = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('dave1') })).json()
  t.not(second.token, first.token, 'a new token after logout')
  t.equal(emulator.tokenStatus(first.token).valid, true, 'plain logout does not expire tokens at Nexconn')

  const revoke = await app.inject({ method: 'DELETE', url: '/v1/token?revoke=true', headers: bearer('dave1') })
  t.equal(revoke.statusCode, 204)
  t.equal(emulator.tokenStatus(second.token).valid, false, 'expired at Nexconn')
  t.equal(emulator.tokenStatus(second.token).reason, 'revoked')
  const third = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('dave1') })).json()
  t.not(third.token, second.token)
  t.equal(emulator.tokenStatus(third.token).valid, true, 'the token served after a revoke works')

  const bad = await app.inject({ method: 'DELETE', url: '/v1/token?revoke=yes', headers: bearer('dave1') })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'invalid_request')
})

t.test('admin revoke: constant-time key check, batches of 20, absent without ADMIN_API_KEY', async (t) => {
  const emulator = await emulatorFor(t)
  const adminKey = 'k'.repeat(40)
  const { app } = await brokerFor(t, brokerEnv(emulator, { ADMIN_API_KEY: adminKey }))
  const users = Array.from({ length: 45 }, (_, i) => `user${i}`)
  const before = await Promise.all(users.slice(0, 3).map(async (u) => (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer(u) })).json().token as string))

  const missing = await app.inject({ method: 'POST', url: '/v1/admin/revoke', payload: { userIds: users } })
  t.equal(missing.statusCode, 401)
  t.equal(missing.json().code, 'missing_token')
  const wrong = await app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${'x'.repeat(40)}` }, payload: { userIds: users } })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().code, 'invalid_token')
  const userJwt = await app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: bearer('user0'), payload: { userIds: users } })
  t.equal(userJwt.statusCode, 401, 'a user JWT is not an admin key')

  const ok = await app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${adminKey}` }, payload: { userIds: [...users, 'user0'] } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { revoked: 45 })
  t.equal(emulator.stats().calls['/v4/auth/access-token/expire'], 3, '45 users → 3 batches of at most 20')
  for (const token of before) t.equal(emulator.tokenStatus(token).valid, false)
  const after = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('user0') })).json().token
  t.not(after, before[0])
  t.equal(emulator.tokenStatus(after).valid, true)

  for (const payload of [{ userIds: [] }, { userIds: ['bad id'] }, { userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, { userIds: ['a'], extra: 1 }]) {
    const res = await app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${adminKey}` }, payload })
    t.equal(res.statusCode, 400)
    t.equal(res.json().code, 'invalid_request')
  }

  const { app: plain } = await brokerFor(t, brokerEnv(emulator))
  const absent = await plain.inject({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${adminKey}` }, payload: { userIds: ['a'] } })
  t.equal(absent.statusCode, 404)
  t.equal(absent.json().code, 'not_found')
})

t.test('TTL: expiresAt = issuedAt + NEXCONN_TOKEN_TTL_S', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { NEXCONN_TOKEN_TTL_S: '86400' }))
  const body = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('erin1') })).json()
  t.equal(Date.parse(body.expiresAt) - Date.parse(body.issuedAt), 86_400_000)
})
