/**
 * Regression: the server's socket timeout was a fixed 10 s, so a request still waiting on Nexconn
 * (or on its quota queue) after 10 s had its connection closed without an answer, although
 * NEXCONN_DEADLINE_MS allows longer waits. Found by the cold-spike benchmark.
 */
import { request } from 'undici'
import t from 'tap'
import { brokerEnv, emulatorFor, ISSUE, jwtFor } from '../helpers/broker.ts'
import { startBrokerProcess } from '../helpers/process.ts'

t.test('a request answered after 11 s gets its answer', async (t) => {
  const emulator = await emulatorFor(t)
  const broker = await startBrokerProcess(t, brokerEnv(emulator, { NEXCONN_TIMEOUT_MS: '13000', NEXCONN_DEADLINE_MS: '14000', SHUTDOWN_GRACE_MS: '14000', LOG_LEVEL: 'warn' }))
  emulator.addFault({ kind: 'latency', ms: 11_000, endpoint: ISSUE, times: 1 })
  const started = Date.now()
  const res = await request(`${broker.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwtFor('patient1')}` }, headersTimeout: 20_000, bodyTimeout: 20_000 })
  t.equal(res.statusCode, 200)
  t.equal((await res.body.json() as { userId: string }).userId, 'patient1')
  t.ok(Date.now() - started >= 11_000, 'it really waited on Nexconn')
})
