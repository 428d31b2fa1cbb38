/**
 * Regression: after 30 failed authentications from one address, valid tokens from that address
 * got 429 for a minute. Carriers (CGNAT), offices and proxies put thousands of users behind one
 * address, and with TRUST_PROXY off the ingress is the only address the broker sees: one app build
 * retrying a stale token locked every user out. With TRUST_PROXY=true, rotating X-Forwarded-For
 * walked around the limit instead. Now a token that verifies is always served; a failing address
 * gets 429 for its bad tokens (Retry-After), counted per address as the trusted proxy saw it.
 */
import t from 'tap'
import { brokerEnv, brokerFor, emulatorFor, jwtFor } from '../helpers/broker.ts'
import { redisClient, startRedis } from '../helpers/redis.ts'

t.test('200 failed tokens from one address, then a valid one: 200; the failing client gets 429', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '30', REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'lock:' }))
  const statuses: number[] = []
  for (let i = 0; i < 200; i++) {
    const res = await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${jwtFor('stale1', { exp: Math.floor(Date.now() / 1000) - 60 })}` } })
    statuses.push(res.statusCode)
  }
  t.same([...new Set(statuses.slice(0, 30))], [401], 'the first 30 failures are told why: 401')
  t.same([...new Set(statuses.slice(30))], [429], 'then the retry loop is told to back off: 429')
  const limited = await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: 'Bearer not.a.jwt' } })
  t.equal(limited.json().code, 'rate_limited')
  t.match(limited.headers['retry-after'], /^\d+$/)

  const valid = await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${jwtFor('happy1')}` } })
  t.equal(valid.statusCode, 200, 'a valid token from the same address is served')
  const missing = await app.inject({ method: 'POST', url: '/v1/token' })
  t.equal(missing.statusCode, 429, 'no token at all counts as a failure too')

  const keys = await redisClient(t, redis.url).keys('lock:af:*')
  t.equal(keys.length, 1, 'one counter for the address')
  t.notOk(keys[0]?.includes('127.0.0.1'), 'keyed by an HMAC, not the address')
})

t.test('behind one ingress (TRUST_PROXY=1): rotating X-Forwarded-For does not multiply what an address may do', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '3', TRUST_PROXY: '1' }))
  // The ingress appends the address it saw; what the client sent before it is the client's to choose.
  const through = (spoofed: string, client: string): Record<string, string> => ({ 'x-forwarded-for': `${spoofed}, ${client}`, authorization: 'Bearer not.a.jwt' })
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push((await app.inject({ method: 'POST', url: '/v1/token', headers: through(`198.51.100.${i}`, '203.0.113.7') })).statusCode)
  t.same(statuses, [401, 401, 401, 429, 429, 429], 'counted against the address the ingress saw')
  const other = await app.inject({ method: 'POST', url: '/v1/token', headers: through('198.51.100.1', '203.0.113.8') })
  t.equal(other.statusCode, 401, 'another client address has its own count')
  const valid = await app.inject({ method: 'POST', url: '/v1/token', headers: { 'x-forwarded-for': '203.0.113.7', authorization: `Bearer ${jwtFor('guess1')}` } })
  t.equal(valid.statusCode, 200, 'and a valid token from the limited address is served')
})

t.test('the admin key: the right key always works; a guessing address gets 429', async (t) => {
  const emulator = await emulatorFor(t)
  const adminKey = 'an-admin-key-that-is-long-enough-0123456789'
  const { app, logs } = await brokerFor(t, brokerEnv(emulator, { RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '2', ADMIN_API_KEY: adminKey }))
  const revoke = async (key: string): Promise<number> => (await app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${key}` }, payload: { userIds: ['x1'] } })).statusCode
  t.same([await revoke('guess1'), await revoke('guess2'), await revoke('guess3')], [401, 401, 429])
  t.equal(await revoke(adminKey), 200)
  t.notOk(logs.text.includes('TRUST_PROXY=true'), 'no proxy warning when TRUST_PROXY is off')
})

t.test('TRUST_PROXY=true is warned about at start: clients can pick their address', async (t) => {
  const emulator = await emulatorFor(t)
  const { logs } = await brokerFor(t, brokerEnv(emulator, { TRUST_PROXY: 'true' }))
  t.ok(logs.records().some((r) => r.level === 40 && String(r.msg).includes('TRUST_PROXY=true trusts every X-Forwarded-For hop')))
})
