import { request } from 'undici'
import t from 'tap'
import { brokerEnv, emulatorFor, ISSUE, issueCalls, jwtFor } from '../helpers/broker.ts'
import { startBrokerProcess } from '../helpers/process.ts'
import { startRedis, waitFor } from '../helpers/redis.ts'

async function postToken (url: string, jwt: string): Promise<{ status: number, body: any }> {
  const res = await request(`${url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  return { status: res.statusCode, body: await res.body.json() }
}

t.test('500 concurrent requests across three broker processes: one Nexconn call', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  emulator.addFault({ kind: 'latency', ms: 300, endpoint: ISSUE })
  const env = brokerEnv(emulator, { REDIS_URL: redis.url, LOG_LEVEL: 'warn' })
  const brokers = await Promise.all([1, 2, 3].map(async () => await startBrokerProcess(t, env)))
  const jwt = jwtFor('herd3')
  const results = await Promise.all(Array.from({ length: 500 }, async (_, i) => await postToken(brokers[i % 3]?.url ?? '', jwt)))
  t.same(new Set(results.map((r) => r.status)), new Set([200]))
  t.equal(new Set(results.map((r) => r.body.token)).size, 1, 'one token for everyone')
  t.equal(issueCalls(emulator), 1, 'one Nexconn call across three processes')
})

t.test('a lock holder killed mid-call: the other replica takes over within its wait', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { REDIS_URL: redis.url, LOG_LEVEL: 'warn', NEXCONN_TIMEOUT_MS: '2500', NEXCONN_DEADLINE_MS: '6000' })
  const holder = await startBrokerProcess(t, env)
  const waiter = await startBrokerProcess(t, env)
  const jwt = jwtFor('orphan1')

  // The holder's call hangs at Nexconn for 2 s; it is killed while holding the lock.
  emulator.addFault({ kind: 'latency', ms: 2000, endpoint: ISSUE, times: 1 })
  const doomed = postToken(holder.url, jwt).catch(() => undefined)
  await waitFor(() => issueCalls(emulator) === 1, 3000, 5)
  const started = Date.now()
  const waiting = postToken(waiter.url, jwt)
  await new Promise((resolve) => setTimeout(resolve, 200))
  holder.kill('SIGKILL')
  await doomed
  const result = await waiting
  const elapsed = Date.now() - started
  t.equal(result.status, 200, 'the waiter got a token')
  t.equal(emulator.tokenStatus(result.body.token).valid, true)
  t.ok(elapsed < 6000, `answered in ${elapsed} ms, within the 6 s deadline`)
  t.ok(elapsed >= 1000, 'it did wait for the holder first')
  t.ok(issueCalls(emulator) <= 3, `${issueCalls(emulator)} Nexconn calls`)
})
