import { performance } from 'node:perf_hooks'
import t from 'tap'
import { request } from 'undici'
import { call, callForm, ISSUE, LEGACY_GET_TOKEN, signedHeaders, start, USER_GET } from './helpers.ts'

const body = { userId: 'tess', name: 'Tess' }

t.test('latency: delays, then answers normally', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'latency', ms: 300 })
  const started = performance.now()
  const res = await call(emu, ISSUE, body)
  t.ok(performance.now() - started >= 250, 'took at least the added delay')
  t.equal(res.status, 200)
  t.equal(emu.tokenStatus(res.json.result.accessToken).valid, true, 'a real token')
})

t.test('status: 5xx with a JSON error body; no user registered; still counted', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'status', status: 502, times: 1 })
  emu.addFault({ kind: 'status', status: 504, times: 1 })
  const first = await call(emu, ISSUE, body)
  t.equal(first.status, 502)
  t.equal(first.json.code, 1000)
  t.type(first.json.errorMessage, 'string')
  const second = await call(emu, ISSUE, body)
  t.equal(second.status, 504)
  t.equal(second.json.code, 1050)
  const stats = emu.stats()
  t.equal(stats.registeredUsers, 0)
  t.equal(stats.calls[ISSUE], 2)
  t.same(stats.byPort, [2])
  t.equal(stats.succeeded[ISSUE], undefined)
  t.equal((await call(emu, ISSUE, body)).status, 200, 'both faults expired')
})

t.test('a fault answers before the signature is checked (it sits in front of the service)', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'status', status: 503 })
  const res = await call(emu, ISSUE, body, { sign: { secret: 'wrong' } })
  t.equal(res.status, 503)
})

t.test('rate_limit: 429/1008', async (t) => {
  const emu = await start(t, { retryAfterOn429: true })
  emu.addFault({ kind: 'rate_limit', times: 1 })
  const res = await call(emu, ISSUE, body)
  t.equal(res.status, 429)
  t.equal(res.json.code, 1008)
  t.equal(res.headers['retry-after'], '1')
  t.equal(emu.stats().rejected['1008'], 1)
})

t.test('business_error: the given code with its mapped status', async (t) => {
  const emu = await start(t)
  const expected: Array<[number, number]> = [[1001, 401], [1004, 401], [1002, 400], [1006, 403], [1009, 430], [2007, 403], [1000, 500]]
  for (const [code] of expected) emu.addFault({ kind: 'business_error', code, times: 1 })
  for (const [code, status] of expected) {
    const res = await call(emu, ISSUE, body)
    t.equal(res.status, status, `code ${code}`)
    t.equal(res.json.code, code)
  }
  t.equal(emu.stats().registeredUsers, 0)
})

t.test('business_error with a status of its own, for one user only (an undocumented per-user answer)', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'business_error', code: 20604, status: 500, userId: 'doomed' })
  const doomed = await call(emu, ISSUE, { userId: 'doomed', name: 'D' })
  t.equal(doomed.status, 500)
  t.equal(doomed.json.code, 20604)
  const other = await call(emu, ISSUE, { userId: 'other', name: 'O' })
  t.equal(other.json.code, 0, 'another user is served')
  emu.addFault({ kind: 'business_error', code: 20604, status: 403, times: 1 })
  t.equal((await call(emu, ISSUE, { userId: 'other', name: 'O' })).status, 403)
})

t.test('hang: the client-side abort fires, and close() still finishes promptly', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'hang' })
  const aborted = call(emu, ISSUE, body, { signal: AbortSignal.timeout(200) })
  await t.rejects(aborted, { name: 'TimeoutError' }, 'client deadline fires')

  const pending = call(emu, ISSUE, body) // no deadline at all
  const outcome = pending.then(() => 'answered', () => 'socket destroyed')
  await new Promise((resolve) => setTimeout(resolve, 100))
  const started = performance.now()
  await emu.close()
  t.ok(performance.now() - started < 3000, 'close() did not wait for the hung request')
  t.equal(await outcome, 'socket destroyed')
  t.equal(emu.requests().at(-1)?.status, 0, 'recorded as unanswered')
})

t.test('drip: headers first, then the body one byte at a time', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'drip', ms: 5 })
  const started = performance.now()
  const res = await request(`${emu.urls[0]}${ISSUE}`, {
    method: 'POST',
    headers: { ...signedHeaders(emu), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const headersAt = performance.now() - started
  t.equal(res.statusCode, 200)
  const chunks: Buffer[] = []
  for await (const chunk of res.body) chunks.push(chunk as Buffer)
  const elapsed = performance.now() - started
  const text = Buffer.concat(chunks).toString('utf8')
  t.ok(headersAt < elapsed / 2, 'headers came well before the body was complete')
  t.ok(chunks.length > 5, `arrived in many pieces (${chunks.length})`)
  t.ok(elapsed >= text.length * 5 * 0.5, `slowly (${Math.round(elapsed)} ms for ${text.length} bytes)`)
  const json = JSON.parse(text)
  t.equal(json.code, 0)
  t.equal(json.result.userId, 'tess')
  t.equal(emu.tokenStatus(json.result.accessToken).valid, false, 'a fault issues no real token')
  t.equal(emu.stats().registeredUsers, 0)
})

t.test('drip: close() ends a drip in progress', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'drip', ms: 1000 })
  const res = await request(`${emu.urls[0]}${ISSUE}`, {
    method: 'POST',
    headers: { ...signedHeaders(emu), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = res.body.text().then(() => 'complete', () => 'cut off')
  const started = performance.now()
  await emu.close()
  t.ok(performance.now() - started < 3000)
  t.equal(await text, 'cut off')
})

t.test('malformed: HTTP 200 whose body is not valid JSON', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'malformed', times: 1 })
  const res = await call(emu, ISSUE, body)
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /json/)
  t.ok(res.text.length > 0)
  t.throws(() => JSON.parse(res.text), SyntaxError)
  t.equal(emu.stats().registeredUsers, 0)
})

t.test('reset: the connection is dropped without an answer', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'reset', times: 1 })
  await t.rejects(call(emu, ISSUE, body), { code: 'ECONNRESET' }, 'TCP reset')
  t.equal(emu.stats().registeredUsers, 0)
  t.equal(emu.stats().calls[ISSUE], 1)
  t.equal((await call(emu, ISSUE, body)).status, 200, 'next request fine')
})

t.test('wrong_user: a real token for a different user; the asked user is not registered', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'wrong_user' })
  const res = await call(emu, ISSUE, body)
  t.equal(res.status, 200)
  t.equal(res.json.code, 0)
  t.not(res.json.result.userId, 'tess')
  const status = emu.tokenStatus(res.json.result.accessToken)
  t.equal(status.valid, true)
  t.not(status.userId, 'tess')
  t.equal(status.userId, res.json.result.userId)
  t.equal(emu.user('tess'), undefined)
  t.equal(emu.stats().registeredUsers, 0)

  const legacy = await callForm(emu, LEGACY_GET_TOKEN, new URLSearchParams({ userId: 'tess', name: 'T' }))
  t.equal(legacy.json.code, 200)
  t.not(legacy.json.userId, 'tess')

  const get = await call(emu, USER_GET, { userId: 'tess' })
  t.equal(get.json.code, 400, 'wrong_user leaves endpoints that issue no token alone')
})

t.test('times:N expires the fault after N matching requests', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'status', status: 500, times: 3 })
  const statuses = []
  for (let i = 0; i < 5; i++) statuses.push((await call(emu, ISSUE, body)).status)
  t.same(statuses, [500, 500, 500, 200, 200])
})

t.test('endpoint targeting: a fault on issue leaves user/get alone; clearFaults removes it', async (t) => {
  const emu = await start(t)
  emu.addFault({ kind: 'status', status: 503, endpoint: USER_GET })
  t.equal((await call(emu, ISSUE, body)).status, 200)
  t.equal((await call(emu, USER_GET, { userId: 'tess' })).status, 503)
  emu.clearFaults()
  t.equal((await call(emu, USER_GET, { userId: 'tess' })).status, 200)
})

t.test('invalid fault specs are refused', async (t) => {
  const emu = await start(t)
  t.throws(() => emu.addFault({ kind: 'explode' as 'hang' }), TypeError)
  t.throws(() => emu.addFault({ kind: 'status', status: 200 }), TypeError)
  t.throws(() => emu.addFault({ kind: 'hang', times: 0 }), TypeError)
  t.throws(() => emu.addFault({ kind: 'latency', ms: -1 }), TypeError)
  t.throws(() => emu.addFault({ kind: 'hang', endpoint: 'v4/user/get' }), TypeError)
  t.throws(() => emu.addFault({ kind: 'business_error', code: 0 }), TypeError)
  t.throws(() => emu.addFault({ kind: 'business_error', code: 5, status: 199 }), TypeError)
  t.throws(() => emu.addFault({ kind: 'status', userId: '' }), TypeError)
})
