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
