/**
 * Redis trouble: killed, frozen or down for a while. Requests are served meanwhile (memory, the
 * in-process single flight, Nexconn), and what Redis missed reaches it once it answers again.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor, issueCalls } from '../helpers/broker.ts'
import { redisClient, startRedis, waitFor } from '../helpers/redis.ts'

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

  // Counted from here: on a loaded machine the first connection may already have timed out once at start-up.
  const linesBefore = logs.lines.length
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
  t.equal(logs.lines.slice(linesBefore).filter((l) => l.includes('redis unavailable')).length, 1, 'one log line for the outage, not one per retry')
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
  t.ok((await redisClient(t, redis.url).keys('*:t')).length >= 2, 'Redis is written to again after it thaws')
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
