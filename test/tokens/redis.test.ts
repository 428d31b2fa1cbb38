import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { TEST_ENCRYPTION_KEY } from '../helpers/env.ts'
import { bearer, brokerEnv, brokerFor, emulatorFor, EXPIRE, ISSUE, issueCalls, jwtFor } from '../helpers/broker.ts'
import { redisClient, startRedis, waitFor } from '../helpers/redis.ts'

const KEY_B = Buffer.alloc(32, 9).toString('base64')

async function dump (client: Redis): Promise<Array<[string, string]>> {
  const keys = await client.keys('*')
  const values = await Promise.all(keys.map(async (key) => (await client.type(key)) === 'string' ? await client.get(key) ?? '' : ''))
  return keys.map((key, i) => [key, values[i] ?? ''])
}

t.test('Redis holds only sealed tokens under opaque keys, shared by replicas', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { REDIS_URL: redis.url })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)

  const jwt = jwtFor('alice1')
  const first = await a.app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${jwt}` } })
  t.equal(first.statusCode, 200)
  const { token } = first.json()
  const second = await b.app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${jwt}` } })
  t.equal(second.json().token, token, 'the other replica served it from Redis')
  t.equal(issueCalls(emulator), 1)

  const client = redisClient(t, redis.url)
  const entries = await dump(client)
  const tokenEntries = entries.filter(([key]) => key.endsWith(':t'))
  t.equal(tokenEntries.length, 1)
  t.match(tokenEntries[0]?.[0], new RegExp(`^ctb:\\{${emulator.appKey}:[A-Za-z0-9_-]{32}\\}:t$`))
  t.match(tokenEntries[0]?.[1], /^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/)
  const everything = entries.flat().join('\n')
  for (const secret of [token, 'alice1', jwt, emulator.appSecret, 'User alice1']) {
    t.notOk(everything.includes(secret), 'no token, user id, JWT, secret or claim in Redis')
  }
  const ttl = await client.pttl(tokenEntries[0]?.[0] ?? '')
  t.ok(ttl > 604_700_000 && ttl <= 604_800_000, 'permanent tokens are kept TOKEN_CACHE_MAX_AGE_S')
})

t.test('500 concurrent requests across two replicas: one Nexconn call', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  emulator.addFault({ kind: 'latency', ms: 300, endpoint: ISSUE })
  const env = brokerEnv(emulator, { REDIS_URL: redis.url })
  const replicas = [await brokerFor(t, env), await brokerFor(t, env)]
  const headers = bearer('herd2')
  const responses = await Promise.all(Array.from({ length: 500 }, async (_, i) => await replicas[i % 2]?.app.inject({ method: 'POST', url: '/v1/token', headers })))
  t.same(new Set(responses.map((r) => r?.statusCode)), new Set([200]))
  t.equal(new Set(responses.map((r) => r?.json().token)).size, 1)
  t.equal(issueCalls(emulator), 1)
})

t.test('a tampered ciphertext, or one copied to another user, is a miss that is deleted and counted', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { REDIS_URL: redis.url })
  let decryptFailures = 0
  const reader = await brokerFor(t, env)
  const client = redisClient(t, redis.url)

  await reader.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('mallory1') })
  await reader.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('victim1') })
  const [malloryKey, victimKey] = await Promise.all(['mallory1', 'victim1'].map(async (u) => `ctb:${reader.app.tokens.userKey(u)}:t`))
  const malloryValue = await client.get(malloryKey ?? '')
  t.ok(malloryValue)

  // Copy mallory's sealed token under the victim's key: must not decrypt there.
  await client.set(victimKey ?? '', malloryValue ?? '')
  const fresh = await brokerFor(t, env, { setup: (app) => { app.addHook('onReady', async () => {}) } })
  const before = issueCalls(emulator)
  const victim = await fresh.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('victim1') })
  t.equal(victim.statusCode, 200)
  t.equal(victim.json().userId, 'victim1')
  t.equal(emulator.tokenStatus(victim.json().token).userId, 'victim1', 'never another user\'s token')
  t.equal(issueCalls(emulator), before + 1, 'the moved entry was a miss')
  t.match(fresh.logs.text, /cached token failed to decrypt/)

  // Flip one byte of the ciphertext.
  const sealed = await client.get(malloryKey ?? '') ?? ''
  const last = sealed.at(-1) === 'A' ? 'B' : 'A'
  await client.set(malloryKey ?? '', `${sealed.slice(0, -1)}${last}`)
  const third = await brokerFor(t, env)
  const res = await third.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('mallory1') })
  t.equal(res.statusCode, 200)
  t.equal(issueCalls(emulator), before + 2, 'the tampered entry was a miss')
  const rewritten = await client.get(malloryKey ?? '')
  t.not(rewritten, `${sealed.slice(0, -1)}${last}`, 'the bad entry was replaced')
  decryptFailures = third.logs.lines.filter((l) => l.includes('failed to decrypt')).length
  t.equal(decryptFailures, 1)
})

t.test('encryption key rotation: old keys stay readable, unknown keys are a miss', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const withA = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: redis.url }))
  const token = (await withA.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('rot1') })).json().token

  const rotated = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: redis.url, TOKEN_ENCRYPTION_KEY: KEY_B, TOKEN_ENCRYPTION_KEYS_OLD: TEST_ENCRYPTION_KEY }))
  const read = await rotated.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('rot1') })
  t.equal(read.json().token, token, 'read with the old key')
  t.equal(issueCalls(emulator), 1)

  const withoutOld = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: redis.url, TOKEN_ENCRYPTION_KEY: KEY_B }))
  const miss = await withoutOld.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('rot1') })
  t.not(miss.json().token, token, 'an entry sealed by an unknown key is a miss')
  t.equal(issueCalls(emulator), 2)
})

t.test('a new App Secret: tokens of the old one are never served', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const before = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: redis.url }))
  const old = (await before.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('sec1') })).json().token

  emulator.setAppSecret('rotated-secret-in-the-console')
  const after = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: redis.url }))
  const res = await after.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('sec1') })
  t.equal(res.statusCode, 200)
  t.not(res.json().token, old)
  t.equal(emulator.tokenStatus(res.json().token).valid, true)
  t.equal(emulator.tokenStatus(old).valid, false, 'Nexconn invalidated the old token')
})

t.test('admin revoke reaches every replica, also racing an in-flight issue', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const adminKey = 'a'.repeat(40)
  const env = brokerEnv(emulator, { REDIS_URL: redis.url, ADMIN_API_KEY: adminKey })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)
  const admin = { authorization: `Bearer ${adminKey}` }

  const cached = (await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('rev1') })).json().token
  t.equal((await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('rev1') })).json().token, cached, 'in A\'s memory')
  const revoked = await b.app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: admin, payload: { userIds: ['rev1'] } })
  t.same(revoked.json(), { revoked: 1 })
  await waitFor(async () => (await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('rev1') })).json().token !== cached, 2000)
  const afterRevoke = (await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('rev1') })).json().token
  t.not(afterRevoke, cached, 'A no longer serves the revoked token')
  t.equal(emulator.tokenStatus(afterRevoke).valid, true)

  // A request is waiting on Nexconn when the revoke lands: its token must not be served.
  emulator.addFault({ kind: 'latency', ms: 800, endpoint: ISSUE, times: 1 })
  const inFlight = a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('race1') })
  await waitFor(() => (emulator.stats().calls[ISSUE] ?? 0) >= 3, 2000, 5)
  const race = await b.app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: admin, payload: { userIds: ['race1'] } })
  t.equal(race.statusCode, 200)
  const served = await inFlight
  t.equal(served.statusCode, 200)
  t.same(emulator.tokenStatus(served.json().token), { valid: true, userId: 'race1' }, 'the token served after the revoke is valid at Nexconn')
  t.equal(emulator.stats().callsByUser.race1, 2, 'the raced token was discarded and issued again')
  const later = await b.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('race1') })
  t.equal(emulator.tokenStatus(later.json().token).valid, true, 'no replica serves the revoked one')
  t.ok((emulator.stats().calls[EXPIRE] ?? 0) >= 2)
})

t.test('forceRefresh is throttled across replicas', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { REDIS_URL: redis.url })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)
  await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('force1') })
  const forced = (await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('force1'), payload: { forceRefresh: true } })).json().token
  const other = (await b.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('force1'), payload: { forceRefresh: true } })).json().token
  t.equal(other, forced, 'the second replica did not issue again within 30 s')
  t.equal(issueCalls(emulator), 2)
})

t.test('Redis killed mid-run: requests still succeed, readiness degrades, then Redis is used again', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const { app, logs } = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: redis.url }))
  await waitFor(async () => (await app.inject({ method: 'GET', url: '/readyz' })).json().components.redis === 'ok')
  // The replica follows the invalidation log before the outage: until it has found its place in
  // the log it drops what it cached (a revocation may have been missed), which would make this
  // token's next request an issue instead of a memory hit. Through Sentinel that takes longer.
  const server = redisClient(t, redis.url)
  await waitFor(async () => String(await server.client('LIST')).includes('cmd=xread'), 5_000)
  const warm = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('kill1') })).json().token

  await redis.stop()
  await waitFor(async () => (await app.inject({ method: 'GET', url: '/readyz' })).json().components.redis === 'degraded')
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200, 'still ready: Redis is not critical')
  const started = Date.now()
  const hit = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('kill1') })
  t.equal(hit.json().token, warm, 'served from the in-process cache')
  const cold = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('kill2') })
  t.equal(cold.statusCode, 200, 'a new user is served through Nexconn')
  t.ok(Date.now() - started < 4000, 'within the deadline')

  await redis.start()
  await waitFor(async () => (await app.inject({ method: 'GET', url: '/readyz' })).json().components.redis === 'ok', 10_000)
  await sleep(1100) // the store's breaker lets Redis back in after a second
  await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('kill3') })
  const recovered = redisClient(t, redis.url)
  // kill1's entry died with Redis (it stays in memory); kill2's, issued during the outage, is written once Redis is back.
  await waitFor(async () => (await recovered.keys('*:t')).length === 2, 5_000, 50)
  t.pass('the recovered Redis holds the tokens issued during the outage and after it')
  t.equal(logs.lines.filter((l) => l.includes('redis unavailable')).length, 1, 'one log line for the outage, not one per retry')
})

t.test('Redis frozen (SIGSTOP): requests succeed within the deadline', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: redis.url }))
  await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('frozen1') })
  redis.freeze()
  t.teardown(() => { redis.thaw() })
  const started = Date.now()
  const results = await Promise.all(['frozen1', 'frozen2', 'frozen3'].map(async (u) => await app.inject({ method: 'POST', url: '/v1/token', headers: bearer(u) })))
  t.same(results.map((r) => r.statusCode), [200, 200, 200])
  t.ok(Date.now() - started < 4000, `answered in ${Date.now() - started} ms, under the 4 s deadline`)
  redis.thaw()
  await sleep(1100)
  const after = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('frozen4') })
  t.equal(after.statusCode, 200)
  const entries = await dump(redisClient(t, redis.url))
  t.ok(entries.filter(([key]) => key.endsWith(':t')).length >= 2, 'Redis is written to again after it thaws')
})

t.test('tokens issued while Redis was frozen are written once it answers: another replica does not issue them again', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { REDIS_URL: redis.url })
  const a = await brokerFor(t, env)
  redis.freeze()
  t.teardown(() => { redis.thaw() })
  const during = await Promise.all(['hiccup1', 'hiccup2'].map(async (u) => await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer(u) })))
  t.same(during.map((r) => r.statusCode), [200, 200], 'served while Redis is frozen')
  redis.thaw()
  // No further request to the first replica: it writes what Redis missed by itself.
  const client = redisClient(t, redis.url)
  await waitFor(async () => (await client.keys('*:t')).length === 2, 5_000, 50)
  const b = await brokerFor(t, env)
  const later = await Promise.all(['hiccup1', 'hiccup2'].map(async (u) => await b.app.inject({ method: 'POST', url: '/v1/token', headers: bearer(u) })))
  t.same(later.map((r) => r.json().token), during.map((r) => r.json().token), 'the other replica serves the same tokens from Redis')
  t.equal(issueCalls(emulator), 2, 'one Nexconn call per user')
})

t.test('a revocation made while Redis was down reaches it once it is back: no replica serves the revoked token after', async (t) => {
  // Persistent, so the token outlives the restart as it would a failover: only the cutoff can refuse it.
  const redis = await startRedis(t, { args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
  const emulator = await emulatorFor(t)
  const admin = { authorization: `Bearer ${'a'.repeat(40)}` }
  const env = brokerEnv(emulator, { REDIS_URL: redis.url, ADMIN_API_KEY: 'a'.repeat(40) })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)
  const client = redisClient(t, redis.url)
  await waitFor(async () => (await client.client('LIST') as string).split('cmd=xread').length > 2, 5_000)
  const revoked = (await b.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('revoked1') })).json().token
  await redis.stop()
  const revoke = await a.app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: admin, payload: { userIds: ['revoked1'] } })
  t.equal(revoke.statusCode, 200, 'revoked at Nexconn while Redis is down')
  await redis.start()
  // Nothing asked of replica A meanwhile: it writes the cutoff by itself; B replays the log and drops its copy.
  await waitFor(async () => (await client.keys('*:r').catch(() => [])).length === 1, 10_000, 100)
  await waitFor(async () => (await b.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('revoked1') })).json().token !== revoked, 10_000, 100)
  t.pass('the other replica no longer serves the revoked token, though Redis kept it')
  t.equal(emulator.tokenStatus(revoked).valid, false, 'it is expired at Nexconn')
})
