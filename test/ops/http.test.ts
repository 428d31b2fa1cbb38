import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor } from '../helpers/broker.ts'
import { startRedis, waitFor } from '../helpers/redis.ts'

t.test('security headers suited to a JSON API, on answers and errors alike', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))
  for (const res of [await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('h1') }), await app.inject({ method: 'POST', url: '/v1/token' })]) {
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'")
    t.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains')
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.equal(res.headers['cache-control'], 'no-store')
    for (const documentOnly of ['x-powered-by', 'x-xss-protection', 'cross-origin-opener-policy', 'origin-agent-cluster', 'x-dns-prefetch-control']) {
      t.equal(res.headers[documentOnly], undefined, `no ${documentOnly}`)
    }
  }
})

t.test('CORS: allowed origins, preflight, no Origin, and errors readable by a browser', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { CORS_ORIGINS: 'https://app.example.com' }))
  const preflight = await app.inject({ method: 'OPTIONS', url: '/v1/token', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(String(preflight.headers['access-control-allow-headers']), /Authorization/)
  t.match(String(preflight.headers['access-control-allow-methods']), /POST/)

  const denied = await app.inject({ method: 'OPTIONS', url: '/v1/token', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' } })
  t.equal(denied.headers['access-control-allow-origin'], undefined, 'other origins get no CORS grant')

  const native = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('native1') })
  t.equal(native.statusCode, 200, 'a native app sends no Origin and is served')

  const unauthorized = await app.inject({ method: 'POST', url: '/v1/token', headers: { origin: 'https://app.example.com' } })
  t.equal(unauthorized.statusCode, 401)
  t.equal(unauthorized.headers['access-control-allow-origin'], 'https://app.example.com', 'a browser can read the 401')
  t.match(String(unauthorized.headers['access-control-expose-headers']), /WWW-Authenticate/)

  const { app: star } = await brokerFor(t, brokerEnv(emulator, { CORS_ORIGINS: '*' }))
  const any = await star.inject({ method: 'POST', url: '/v1/token', headers: { ...bearer('web1'), origin: 'https://anything.example' } })
  t.equal(any.headers['access-control-allow-origin'], '*')

  const { app: none } = await brokerFor(t, brokerEnv(emulator))
  const noCors = await none.inject({ method: 'POST', url: '/v1/token', headers: { ...bearer('web1'), origin: 'https://app.example.com' } })
  t.equal(noCors.headers['access-control-allow-origin'], undefined, 'no CORS headers unless configured')
})

t.test('per-user rate limit: 429 rate_limited with Retry-After; other users unaffected; shared through Redis', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { RATE_LIMIT_PER_MINUTE: '3', REDIS_URL: redis.url })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await (i % 2 === 0 ? a : b).app.inject({ method: 'POST', url: '/v1/token', headers: bearer('busy1') })).statusCode)
  t.same(statuses, [200, 200, 200])
  const limited = await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('busy1') })
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'rate_limited')
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.ok(Number(limited.headers['retry-after']) <= 60)
  t.equal((await b.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('busy1') })).statusCode, 429, 'the other replica counts the same')
  t.equal((await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('calm1') })).statusCode, 200, 'another user is not limited')
})

t.test('load shedding: 503 overloaded with Retry-After while the event loop lags; probes still answer', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { MAX_EVENT_LOOP_DELAY_MS: '100' }))
  const block = (ms: number): void => { const end = Date.now() + ms; while (Date.now() < end) { /* busy: simulate a saturated event loop */ } }
  // Keep the loop stalling (300 ms of every ~310) so every sample sees a lag over the threshold.
  const stall = setInterval(() => { block(300) }, 10)
  t.teardown(() => { clearInterval(stall) })
  let shed = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('shed1') })
  await waitFor(async () => {
    shed = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('shed1') })
    return shed.statusCode === 503
  }, 15_000, 50)
  t.equal(shed.statusCode, 503)
  t.equal(shed.json().code, 'overloaded')
  t.match(shed.headers['retry-after'], /^\d+$/)
  t.equal((await app.inject({ method: 'GET', url: '/livez' })).statusCode, 200, 'liveness is never shed')
  clearInterval(stall)
  await waitFor(async () => (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('shed1') })).statusCode === 200, 5000, 100)
  t.pass('served again once the loop recovers')
})
