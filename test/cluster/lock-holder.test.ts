/**
 * (d) The replica holding a user's issue lock is SIGKILLed while its Nexconn call is in flight;
 * two other replicas are waiting for that user. Once the dead holder's lock lease runs out, exactly
 * one of them issues (never both at once) and both answer with that one token.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { request } from 'undici'
import { brokerEnv, emulatorFor, ISSUE, issueCalls, jwtFor } from '../helpers/broker.ts'
import { startBrokerProcess } from '../helpers/process.ts'
import { redisClient, startRedis, waitFor } from '../helpers/redis.ts'
import { LOCK_LEASE_MS } from '../../src/tokens/service.ts'

async function postToken (url: string, jwt: string): Promise<{ status: number, token: string | undefined, at: number }> {
  const res = await request(`${url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  const body = await res.body.json() as { token?: string }
  return { status: res.statusCode, token: body.token, at: performance.now() }
}

t.test('(d) lock holder SIGKILLed mid-issue: the next replica issues once after the lock expires', async (t) => {
  const server = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = { ...brokerEnv(emulator, { REDIS_URL: server.url, NEXCONN_TIMEOUT_MS: '2500', NEXCONN_DEADLINE_MS: '6000' }), LOG_LEVEL: 'warn' }
  const [holder, waiterA, waiterB] = await Promise.all([0, 1, 2].map(async () => await startBrokerProcess(t, env)))
  const jwt = jwtFor('orphanedlock')
  const redis = redisClient(t, server.url)

  // The holder's call hangs at Nexconn for 3 s: it is killed while holding the lock.
  emulator.addFault({ kind: 'latency', ms: 3_000, endpoint: ISSUE, times: 1 })
  const doomed = postToken(holder!.url, jwt).catch(() => undefined)
  await waitFor(() => issueCalls(emulator) === 1, 3_000, 5)
  t.equal((await redis.keys('ctb:*:l')).length, 1, 'the holder holds the user\'s lock in Redis')
  const waiting = [postToken(waiterA!.url, jwt), postToken(waiterB!.url, jwt)]
  await new Promise((resolve) => setTimeout(resolve, 200))
  const killedAt = performance.now()
  holder!.kill('SIGKILL')
  await doomed
  const [a, b] = await Promise.all(waiting)

  t.equal(a!.status, 200)
  t.equal(b!.status, 200)
  t.equal(a!.token, b!.token, 'both waiters answer with the one token issued after the holder died')
  t.equal(emulator.tokenStatus(a!.token ?? '').valid, true)
  t.equal(issueCalls(emulator), 2, 'two Nexconn calls in all: the dead holder\'s and exactly one after it')
  const took = Math.max(a!.at, b!.at) - killedAt
  t.ok(took < 6_000, `answered ${Math.round(took)} ms after the kill, within the 6 s deadline`)
  t.comment(`lock holder killed: waiters answered ${Math.round(a!.at - killedAt)} / ${Math.round(b!.at - killedAt)} ms after the SIGKILL (lock lease ${LOCK_LEASE_MS} ms); Nexconn issue calls: ${issueCalls(emulator)} (1 by the dead holder)`)
})
