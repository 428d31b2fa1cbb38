/**
 * Replica awareness: heartbeats in Redis tell every replica how many share the App Key. The count
 * shows in /readyz and /metrics, shrinks when a replica leaves, and, while Redis is unreachable,
 * divides the Nexconn quota so the fleet as a whole still stays under it.
 */
import t from 'tap'
import { brokerEnv, brokerFor, emulatorFor, ISSUE, bearer, type TestBroker } from '../helpers/broker.ts'
import { redisClient, startRedis, waitFor } from '../helpers/redis.ts'

interface Fleet { count: number, source: string }
async function fleetOf (broker: TestBroker): Promise<Fleet | undefined> {
  return (await broker.app.inject({ method: 'GET', url: '/readyz' })).json().replicas as Fleet | undefined
}

t.test('three replicas count each other; one leaving is seen by the others', async (t) => {
  const server = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { REDIS_URL: server.url })
  const brokers = [await brokerFor(t, env), await brokerFor(t, env), await brokerFor(t, env)]
  // The first beats happen at start, one after another: the third saw all three at once.
  await waitFor(async () => (await fleetOf(brokers[2]!))?.count === 3, 10_000, 50)
  t.same(await fleetOf(brokers[2]!), { count: 3, source: 'redis' }, '/readyz: three live replicas, counted in Redis')
  await waitFor(async () => (await Promise.all(brokers.map(fleetOf))).every((f) => f?.count === 3), 12_000, 100)
  const metrics = (await brokers[0]!.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^ctb_replicas 3$/m, 'the metric says 3')
  const members = await redisClient(t, server.url).zrange('ctb:{replicas}', 0, -1)
  t.equal(members.length, 3, 'one registry entry per replica')

  await brokers[2]!.app.close()
  t.equal((await redisClient(t, server.url).zrange('ctb:{replicas}', 0, -1)).length, 2, 'a replica that shuts down leaves the registry at once')
  await waitFor(async () => (await fleetOf(brokers[0]!))?.count === 2, 12_000, 100)
  t.pass('the others count 2 at their next beat')
})

t.test('Redis unreachable: each of two replicas uses half the quota; together they stay under 200/s', async (t) => {
  const server = await startRedis(t)
  const emulator = await emulatorFor(t)
  // Attempts get 5 s: on a loaded CI machine a 1 s attempt can time out and be retried, which
  // would blur the count of calls this test is about.
  const env = brokerEnv(emulator, { REDIS_URL: server.url, NEXCONN_TIMEOUT_MS: '5000', NEXCONN_DEADLINE_MS: '15000', SHUTDOWN_GRACE_MS: '15000' })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)
  await waitFor(async () => (await fleetOf(a))?.count === 2 && (await fleetOf(b))?.count === 2, 12_000, 100)
  await server.stop()
  await waitFor(async () => (await fleetOf(a))?.source === 'last_known' && (await fleetOf(b))?.source === 'last_known', 12_000, 100)
  t.same(await fleetOf(a), { count: 2, source: 'last_known' }, '/readyz: the count from before the outage')

  const users = Array.from({ length: 400 }, (_, i) => `share${i}`)
  const started = Date.now()
  const answers = await Promise.all(users.map(async (user, i) => (await (i % 2 === 0 ? a : b).app.inject({ method: 'POST', url: '/v1/token', headers: bearer(user) })).statusCode))
  const elapsed = Date.now() - started
  const stats = emulator.stats()
  t.equal(answers.filter((s) => s === 200).length, 400, 'every request answered 200')
  t.equal(stats.calls[ISSUE], 400, `one Nexconn call per user (${JSON.stringify(stats.rejected)} rejected)`)
  t.equal(stats.rejected['1008'], undefined, 'Nexconn never had to answer 429')
  t.ok((stats.peakSliding[ISSUE] ?? Infinity) <= 200, `at most 200 issues in any sliding second across both (peak ${stats.peakSliding[ISSUE]})`)
  t.comment(`Redis down, 2 replicas: 400 cold users in ${elapsed} ms, peak ${stats.peakSliding[ISSUE]} issues in a sliding second (limit 200; without the share it was up to 400)`)
})
