/**
 * Regression: on a busy host a freshly started, idle broker answered its first requests with 503
 * `overloaded` (the load shedder's first sample covered the start-up stall), and those 503s, like
 * every answer from a plugin that ran before the request-id hook, carried no X-Request-ID.
 */
import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor } from '../helpers/broker.ts'
import { waitFor } from '../helpers/redis.ts'

const block = (ms: number): void => { const end = Date.now() + ms; while (Date.now() < end) { /* a stalled start: busy host, slow disk */ } }

t.test('a start-up stall does not make an idle broker shed its first requests', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { MAX_EVENT_LOOP_DELAY_MS: '500' }), { ready: false })
  block(3000)
  await app.ready()
  const first = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('early1') })
  t.equal(first.statusCode, 200, 'the first request after start is served')
  const second = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('early2') })
  t.equal(second.statusCode, 200)
})

t.test('every response carries X-Request-ID and, for an allowed origin, CORS headers: shed, limited, 404, 413, 415', async (t) => {
  const emulator = await emulatorFor(t)
  const origin = 'https://app.example.com'
  const { app } = await brokerFor(t, brokerEnv(emulator, { MAX_EVENT_LOOP_DELAY_MS: '100', CORS_ORIGINS: origin, RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '1' }))
  const check = (name: string, res: Awaited<ReturnType<typeof app.inject>>, status: number): void => {
    t.equal(res.statusCode, status, name)
    t.match(res.headers['x-request-id'], /\S/, `${name}: X-Request-ID`)
    t.equal(res.headers['access-control-allow-origin'], origin, `${name}: CORS`)
  }
  const withOrigin = { origin }
  check('404', await app.inject({ method: 'GET', url: '/nowhere', headers: withOrigin }), 404)
  check('413', await app.inject({ method: 'POST', url: '/v1/token', headers: { ...withOrigin, ...bearer('big1'), 'content-type': 'application/json' }, payload: JSON.stringify({ pad: 'x'.repeat(200_000) }) }), 413)
  check('415', await app.inject({ method: 'POST', url: '/v1/token', headers: { ...withOrigin, ...bearer('text1'), 'content-type': 'text/plain' }, payload: 'hi' }), 415)
  check('200', await app.inject({ method: 'POST', url: '/v1/token', headers: { ...withOrigin, ...bearer('lim1') } }), 200)
  check('429 per user', await app.inject({ method: 'POST', url: '/v1/token', headers: { ...withOrigin, ...bearer('lim1') } }), 429)

  // A sustained stall (300 ms of every ~310): the broker sheds once two samples in a row lag.
  const stall = setInterval(() => { block(300) }, 10)
  t.teardown(() => { clearInterval(stall) })
  let shed = await app.inject({ method: 'POST', url: '/v1/token', headers: { ...withOrigin, ...bearer('shed1') } })
  await waitFor(async () => {
    shed = await app.inject({ method: 'POST', url: '/v1/token', headers: { ...withOrigin, ...bearer('shed1') } })
    return shed.statusCode === 503
  }, 15_000, 50)
  clearInterval(stall)
  check('503 shed', shed, 503)
  t.equal(shed.json().code, 'overloaded')
  t.equal(shed.json().requestId, shed.headers['x-request-id'], 'the body names the same request id')
})
