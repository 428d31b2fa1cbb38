/**
 * Revocations and purges reach every replica: measured across three broker processes sharing one
 * Redis (p99 reported; bounded generously), and a replica cut off from Redis while a revocation
 * happened catches up when it reconnects instead of serving the revoked token until its
 * in-process entry ages out (a minute).
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { request } from 'undici'
import { setTimeout as sleep } from 'node:timers/promises'
import { bearer, brokerEnv, brokerFor, emulatorFor, jwtFor, type TestBroker } from '../helpers/broker.ts'
import { percentile, summary } from '../helpers/latency.ts'
import { startBrokerProcess, type BrokerProcess } from '../helpers/process.ts'
import { redisClient, startRedis, waitFor } from '../helpers/redis.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const ADMIN_KEY = 'r'.repeat(40)

async function tokenFrom (broker: BrokerProcess, user: string): Promise<string> {
  const res = await request(`${broker.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwtFor(user)}` } })
  const body = await res.body.json() as { token?: string }
  if (res.statusCode !== 200 || body.token === undefined) throw new Error(`${broker.url}: ${res.statusCode} ${JSON.stringify(body)}`)
  return body.token
}

async function revoke (broker: BrokerProcess, user: string): Promise<void> {
  const res = await request(`${broker.url}/v1/admin/revoke`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ userIds: [user] }) })
  await res.body.dump()
  if (res.statusCode !== 200) throw new Error(`revoke: ${res.statusCode}`)
}

async function redisOk (broker: BrokerProcess): Promise<boolean> {
  const res = await request(`${broker.url}/readyz`)
  return (await res.body.json() as { components: { redis: string } }).components.redis === 'ok'
}

t.test('(e) revocation reaches the two other replicas: p99 over 100 samples', async (t) => {
  const server = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = { ...brokerEnv(emulator, { REDIS_URL: server.url, ADMIN_API_KEY: ADMIN_KEY }), LOG_LEVEL: 'warn' }
  const brokers = await Promise.all([0, 1, 2].map(async () => await startBrokerProcess(t, env)))
  await waitFor(async () => (await Promise.all(brokers.map(redisOk))).every(Boolean), 10_000, 100)

  const samples: number[] = []
  for (let i = 0; i < 50; i++) {
    const user = `rev${i}`
    const old = await tokenFrom(brokers[0]!, user)
    for (const other of brokers.slice(1)) t.equal(await tokenFrom(other, user), old, 'cached on every replica')
    const started = performance.now()
    const revoked = revoke(brokers[0]!, user)
    // Each other replica is asked again and again until it stops serving the old token. The sample
    // is when the first request that no longer got it was SENT (its answer then waits for a new
    // issue at Nexconn, which is not part of the reach): an upper bound, to one cache hit's time.
    await Promise.all(brokers.slice(1).map(async (other) => {
      for (;;) {
        const sent = performance.now()
        if (await tokenFrom(other, user) !== old) {
          samples.push(sent - started)
          break
        }
        if (sent - started > 5_000) throw new Error(`${other.url} still serves the revoked token after 5 s`)
      }
    }))
    await revoked
  }
  const p99 = percentile(samples, 99)
  t.comment(`revocation reach, 3 replicas (revoke on one, two others polled): ${summary(samples)}`)
  t.equal(samples.length, 100)
  // The promise is 100 ms p99; measured far below it on an idle machine, but a loaded
  // 2-core CI box can stall a process for longer, so the bound asserted is generous.
  t.ok(p99 < 500, `p99 ${p99.toFixed(1)} ms (target 100 ms; bound asserted 500 ms)`)
})

t.test('a replica cut off from Redis during a revocation catches up on reconnect', async (t) => {
  const server = await startRedis(t)
  const proxy = await startTcpProxy(t, { host: '127.0.0.1', port: server.port })
  const emulator = await emulatorFor(t)
  const base = { ...brokerEnv(emulator, { ADMIN_API_KEY: ADMIN_KEY }), LOG_LEVEL: 'warn' }
  const a = await startBrokerProcess(t, { ...base, REDIS_URL: server.url, TOKEN_ENCRYPTION_KEY: brokerEnv(emulator, { REDIS_URL: server.url }).TOKEN_ENCRYPTION_KEY })
  const c = await startBrokerProcess(t, { ...base, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, TOKEN_ENCRYPTION_KEY: brokerEnv(emulator, { REDIS_URL: server.url }).TOKEN_ENCRYPTION_KEY })
  await waitFor(async () => await redisOk(a) && await redisOk(c), 10_000, 100)

  const old = await tokenFrom(a, 'partitioned')
  t.equal(await tokenFrom(c, 'partitioned'), old, 'both replicas hold the token')
  proxy.cut()
  await waitFor(async () => !await redisOk(c), 5_000, 50)
  await revoke(a, 'partitioned')
  const entries = await redisClient(t, server.url).xlen('ctb:{invalidations}')
  t.equal(entries, 1, 'the revocation is in the log')
  t.equal(await tokenFrom(c, 'partitioned'), old, 'cut off, the replica still serves from its memory (the documented degraded answer)')

  const restored = performance.now()
  proxy.restore()
  await waitFor(async () => await tokenFrom(c, 'partitioned') !== old, 10_000, 20).catch((err: unknown) => { t.comment(c.output().split('\n').filter((l) => !l.includes('request completed')).join('\n')); throw err })
  const caughtUp = performance.now() - restored
  t.comment(`catch-up after reconnect: the revoked token stopped being served ${Math.round(caughtUp)} ms after Redis was reachable again (in-process entries live 60 s)`)
  t.ok(caughtUp < 10_000, 'well before the in-process entry would have aged out')
  t.equal(emulator.tokenStatus(old).valid, false, 'Nexconn was told too')
})

t.test('Redis restarted empty (the log lost): a replica drops its in-process cache rather than trust it', async (t) => {
  const server = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { REDIS_URL: server.url, ADMIN_API_KEY: ADMIN_KEY })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)
  const token = async (broker: TestBroker, user: string): Promise<string> => (await broker.app.inject({ method: 'POST', url: '/v1/token', headers: bearer(user) })).json().token as string
  const cached = await token(a, 'keptuser')
  // A has read one entry of the log (B's revocation of someone else).
  await b.app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { userIds: ['someoneelse'] } })
  await waitFor(async () => (await redisClient(t, server.url).xlen('ctb:{invalidations}')) === 1, 2_000)
  await sleep(100)
  t.equal(await token(a, 'keptuser'), cached, 'served from A\'s memory')

  // Without persistence Redis comes back empty: revocation cutoffs and the log's tail are gone, so
  // A cannot know what it missed meanwhile.
  await server.stop()
  await server.start()
  await waitFor(() => a.logs.text.includes('invalidation log: entries may have been missed'), 10_000, 50)
  t.pass('A noticed the log lost entries it had read, and said so')
  const fresh = await token(a, 'keptuser')
  t.not(fresh, cached, 'A no longer trusts its memory: the user is read from Redis (empty) and issued again')
})
