import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import t from 'tap'
import { brokerEnv, emulatorFor, ISSUE, jwtFor } from '../helpers/broker.ts'
import { startBrokerProcess } from '../helpers/process.ts'

t.test('SIGTERM under load: readiness fails at once, no request fails, exit 0 within the grace period', async (t) => {
  const emulator = await emulatorFor(t)
  const broker = await startBrokerProcess(t, brokerEnv(emulator, { LOG_LEVEL: 'info', SHUTDOWN_DELAY_MS: '1500', SHUTDOWN_GRACE_MS: '5000' }))
  const agent = new Agent({ connections: 10, keepAliveTimeout: 60_000 })
  t.teardown(async () => { await agent.close() })
  const jwts = Array.from({ length: 20 }, (_, i) => jwtFor(`load${i}`))

  const outcomes: Array<number | string> = []
  const stopLoad = new AbortController()
  const worker = async (n: number): Promise<void> => {
    // A bounded load: at most 400 requests per worker, stopped by the test.
    for (let i = 0; i < 400 && !stopLoad.signal.aborted; i++) {
      try {
        const res = await request(`${broker.url}/v1/token`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${jwts[(n + i) % jwts.length] ?? ''}` } })
        await res.body.dump()
        outcomes.push(res.statusCode)
      } catch (err) {
        outcomes.push((err as { code?: string }).code ?? 'error')
      }
    }
  }
  const load = Promise.all(Array.from({ length: 8 }, async (_, n) => { await worker(n) }))
  await sleep(300)
  const signalledAt = Date.now()
  broker.kill('SIGTERM')
  await sleep(200)
  const ready = await request(`${broker.url}/readyz`, { dispatcher: agent })
  t.equal(ready.statusCode, 503, 'readiness fails during the shutdown delay')
  t.equal((await ready.body.json() as { status: string }).status, 'shutting_down')

  // A slow issue that is in flight when the listener closes must still complete.
  emulator.addFault({ kind: 'latency', ms: 800, endpoint: ISSUE, times: 1 })
  await sleep(900)
  const slow = request(`${broker.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwtFor('slowuser1')}` } })
  stopLoad.abort()
  await load
  const slowResult = await slow
  t.equal(slowResult.statusCode, 200, 'the in-flight request finished')
  await slowResult.body.dump()

  const code = await broker.exited
  const took = Date.now() - signalledAt
  t.equal(code, 0, 'exit code 0')
  t.ok(took < 1500 + 5000, `exited ${took} ms after SIGTERM, within delay + grace`)
  t.ok(outcomes.length > 20, `${outcomes.length} requests ran during the test`)
  t.same([...new Set(outcomes)], [200], 'no request failed')
  t.match(broker.output(), /shutting down: readiness fails now/)
  t.match(broker.output(), /"msg":"closed"/)
})
