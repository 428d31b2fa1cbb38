/**
 * Retries by the broker's error codes, against the real broker. Waits go through an injected
 * `sleep` that records the delay and lets the test decide what happens meanwhile (a fault
 * clears, the rate-limit window passes): no real waiting, no timing assertions.
 */
import { createServer } from 'node:http'
import t from 'tap'
import { createTokenProvider, TokenProviderError } from '../../client/src/index.ts'
import { ISSUE, jwtFor } from '../helpers/broker.ts'
import { freePort, redisClient, startRedis } from '../helpers/redis.ts'
import { instantSleep, liveBroker, manualClock, rejection } from './helpers.ts'

t.test('503 upstream_unavailable: waits the broker\'s Retry-After, then gets the token once the fault clears', async (t) => {
  const broker = await liveBroker(t)
  broker.emulator.addFault({ kind: 'status', status: 503, endpoint: ISSUE })
  const { waits, sleep } = instantSleep(() => { broker.emulator.clearFaults() })
  // random() = 0: the jittered part is 0, so any wait is the Retry-After floor itself.
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('busy1'), sleep, random: () => 0 })
  const retrying: unknown[] = []
  provider.subscribe((state) => { if (state.status === 'retrying') retrying.push(state.error) })

  const token = await provider.getToken()
  t.same(broker.requests.map((r) => r.status), [503, 200])
  t.equal(broker.requests[0]?.retryAfter, '1', 'the broker said Retry-After: 1')
  t.same(waits, [1000], 'the one wait is exactly Retry-After')
  t.match(retrying, [{ code: 'upstream_unavailable', status: 503, retryAfterMs: 1000 }], 'the state showed the typed error while waiting')
  t.equal(broker.emulator.tokenStatus(token.token).valid, true)
})

t.test('503 that does not clear: exponential full-jitter waits, never under Retry-After, then the typed error; Retry-After holds later calls back', async (t) => {
  const broker = await liveBroker(t)
  broker.emulator.addFault({ kind: 'status', status: 503, endpoint: ISSUE })
  const { waits, sleep } = instantSleep()
  const clock = manualClock()
  const provider = createTokenProvider({
    brokerUrl: broker.url,
    getAppJwt: () => jwtFor('busy2'),
    sleep,
    now: clock.now,
    random: () => 0.999, // the top of each jitter window
    retry: { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 8000 }
  })
  const error = await rejection(provider.getToken())
  t.ok(error instanceof TokenProviderError)
  t.match(error, { code: 'upstream_unavailable', status: 503, retryAfterMs: 1000 })
  t.same(broker.requests.map((r) => r.status), [503, 503, 503, 503], 'maxAttempts requests')
  // Windows 1 s, 2 s, 4 s; 0.999 of each, floored at Retry-After (1 s).
  t.same(waits, [1000, 1998, 3996])

  t.equal(await rejection(provider.getToken()), error, 'within Retry-After a new call gets the same error…')
  t.equal(broker.requests.length, 4, '…without a request')
  clock.advance(1000)
  broker.emulator.clearFaults()
  t.equal(broker.emulator.tokenStatus((await provider.getToken()).token).valid, true, 'after it, the broker is asked again')
  t.equal(broker.requests.length, 5)
})

t.test('429 rate_limited: waits the Retry-After the broker set, and the retry succeeds once that window has passed', async (t) => {
  const redis = await startRedis(t)
  const broker = await liveBroker(t, { RATE_LIMIT_PER_MINUTE: '1', REDIS_URL: redis.url })
  const keys = redisClient(t, redis.url)
  const jwt = jwtFor('limited1')
  // The user's one request this minute, spent by another device.
  await createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwt }).getToken()

  const { waits, sleep } = instantSleep(async () => {
    // The minute passes: the broker's per-user window (in Redis) expires.
    for (const key of await keys.keys('*rl:*')) await keys.del(key)
  })
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwt, sleep, random: () => 0, retry: { maxDelayMs: 120_000 } })
  const token = await provider.getToken()
  t.same(broker.requests.map((r) => r.status), [200, 429, 200])
  const retryAfter = Number(broker.requests[1]?.retryAfter)
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
  t.same(waits, [retryAfter * 1000], 'waited exactly what the broker asked')
  t.equal(broker.emulator.tokenStatus(token.token).valid, true)
})

t.test('429 asking for longer than maxDelayMs: no early retry, the error says when to ask again, calls meanwhile stay local', async (t) => {
  const broker = await liveBroker(t, { RATE_LIMIT_PER_MINUTE: '1' })
  const jwt = jwtFor('limited2')
  await createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwt }).getToken()
  const { waits, sleep } = instantSleep()
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwt, sleep, retry: { maxDelayMs: 5000 } })
  const error = await rejection(provider.getToken())
  t.match(error, { code: 'rate_limited', status: 429 })
  const retryAfterMs = (error as TokenProviderError).retryAfterMs ?? 0
  t.ok(retryAfterMs > 5000, `retryAfterMs ${retryAfterMs} is the broker's Retry-After`)
  t.same(waits, [], 'no wait shorter than asked, and no wait that would hold the caller for a minute')
  t.equal(await rejection(provider.getToken()), error, 'a second call is answered locally')
  t.same(broker.requests.map((r) => r.status), [200, 429])
})

t.test('network error: backoff with full jitter, then a typed network_error', async (t) => {
  const port = await freePort() // nothing listens there
  const { waits, sleep } = instantSleep()
  const provider = createTokenProvider({ brokerUrl: `http://127.0.0.1:${port}`, getAppJwt: () => jwtFor('offline1'), sleep, random: () => 0.5, retry: { maxAttempts: 3, baseDelayMs: 400, maxDelayMs: 1000 } })
  const error = await rejection(provider.getToken())
  t.match(error, { code: 'network_error', status: undefined })
  t.ok((error as Error).cause, 'the underlying error is kept as cause')
  t.same(waits, [200, 400], 'half of windows 400 ms and 800 ms')
})

t.test('answers that are not the broker\'s: a proxy\'s HTML 502 is retried, a 404 page is not, a 200 without a token is typed', async (t) => {
  const answers: Array<{ status: number, body: string }> = []
  const proxy = createServer((_request, response) => {
    const answer = answers.shift() ?? { status: 500, body: '' }
    response.writeHead(answer.status, { 'content-type': 'text/html' }).end(answer.body)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { proxy.close() })
  const address = proxy.address()
  const brokerUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const { waits, sleep } = instantSleep()
  const provider = createTokenProvider({ brokerUrl, getAppJwt: () => 'a.b.c', sleep, retry: { maxAttempts: 2 } })

  answers.push({ status: 502, body: '<h1>Bad Gateway</h1>' }, { status: 502, body: '<h1>Bad Gateway</h1>' })
  t.match(await rejection(provider.getToken()), { code: 'unexpected_response', status: 502 })
  t.equal(waits.length, 1, 'retried once (maxAttempts 2)')

  answers.push({ status: 404, body: '<h1>Not Found</h1>' })
  t.match(await rejection(provider.getToken()), { code: 'unexpected_response', status: 404 })
  t.equal(waits.length, 1, 'not retried')

  answers.push({ status: 200, body: '<html>captive portal</html>' }, { status: 200, body: '{"token": 42}' })
  t.match(await rejection(provider.getToken()), { code: 'unexpected_response', status: undefined })
  t.equal(answers.length, 0, 'both answers were used')
})
