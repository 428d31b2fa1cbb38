import t from 'tap'
import { StatsRecorder } from '../../src/emulator/stats.ts'
import { call, callForm, ISSUE, issue, LEGACY_GET_TOKEN, signedHeaders, start, USER_GET } from './helpers.ts'

t.test('stats: calls, succeeded, rejected by code, callsByUser, byPort, registeredUsers', async (t) => {
  const emu = await start(t)
  await issue(emu, 'ann')
  await issue(emu, 'ann')
  await issue(emu, 'ben')
  await callForm(emu, LEGACY_GET_TOKEN, new URLSearchParams({ userId: 'ben', name: 'B' }))
  await call(emu, ISSUE, { userId: 'ann', name: 'A' }, { sign: { secret: 'bad' } })
  await call(emu, ISSUE, { userId: 'a-n', name: 'A' })
  await call(emu, USER_GET, { userId: 'ann' })
  const s = emu.stats()
  t.same(s.calls, { [ISSUE]: 5, [LEGACY_GET_TOKEN]: 1, [USER_GET]: 1 })
  t.same(s.succeeded, { [ISSUE]: 3, [LEGACY_GET_TOKEN]: 1, [USER_GET]: 1 })
  t.same(s.rejected, { 1004: 1, 1002: 1 })
  t.same(s.callsByUser, { ann: 2, ben: 2 })
  t.same(s.byPort, [7])
  t.equal(s.registeredUsers, 2)
})

t.test('peak rates: fixed wall-clock seconds vs a sliding 1000 ms window (virtual times)', async (t) => {
  const stats = new StatsRecorder(1)
  for (const at of [10_900, 10_950, 11_050, 11_100, 12_200]) stats.call('/x', at)
  const s = stats.snapshot(0)
  t.equal(s.peakPerSecond['/x'], 2, 'no wall-clock second saw more than 2')
  t.equal(s.peakSliding['/x'], 4, '10_900..11_100 lie within 1000 ms')
})

t.test('peakPerSecond and peakSliding count a real burst', async (t) => {
  const emu = await start(t)
  await Promise.all(Array.from({ length: 12 }, (_, i) => issue(emu, `p${i}`)))
  await call(emu, USER_GET, { userId: 'p1' })
  const s = emu.stats()
  const ats = emu.requests().filter((r) => r.path === ISSUE).map((r) => r.at)
  const span = Math.max(...ats) - Math.min(...ats)
  // Exact whenever the burst fit in one second, which the recorded arrival times tell us (no timing guess).
  if (span < 1000) {
    t.equal(s.peakSliding[ISSUE], 12, 'the whole burst lies within one 1000 ms window')
    t.ok((s.peakPerSecond[ISSUE] ?? 0) >= 6, 'at most two wall-clock seconds, so one holds half the burst')
  }
  t.ok((s.peakPerSecond[ISSUE] ?? 0) <= (s.peakSliding[ISSUE] ?? 0), 'a fixed second never beats the sliding window')
  t.equal(s.peakPerSecond[USER_GET], 1)
  t.equal(s.peakSliding[USER_GET], 1)
})

t.test('requests(): what reached the API, with headers and body, oldest first', async (t) => {
  const emu = await start(t)
  const headers = { ...signedHeaders(emu), 'X-Request-ID': 'req-1' }
  await call(emu, ISSUE, { userId: 'cat', name: 'C' }, { headers })
  await call(emu, USER_GET, { userId: 'ghost' })
  const [first, second] = emu.requests()
  t.match(first, { port: 0, method: 'POST', path: ISSUE, status: 200, code: 0 })
  t.equal(first?.headers['app-key'], emu.appKey)
  t.equal(first?.headers['x-request-id'], 'req-1')
  t.equal(first?.headers['content-type'], 'application/json')
  t.same(JSON.parse(first?.body ?? ''), { userId: 'cat', name: 'C' })
  t.type(first?.at, 'number')
  t.match(second, { path: USER_GET, status: 400, code: 400 })
})

t.test('requests(): keeps the last 1000 only', async (t) => {
  const emu = await start(t)
  for (let batch = 0; batch < 11; batch++) {
    await Promise.all(Array.from({ length: 100 }, (_, i) => call(emu, '/nope', { n: batch * 100 + i }, { headers: {} })))
  }
  const log = emu.requests()
  t.equal(log.length, 1000)
  t.ok(log.every((r) => JSON.parse(r.body).n >= 100), 'the oldest 100 were dropped')
  t.same(emu.stats().byPort, [1100])
})

t.test('routing: unknown path → 404 {code:404}; wrong method → 405', async (t) => {
  const emu = await start(t)
  const unknown = await call(emu, '/v4/user/delete-everything', {})
  t.equal(unknown.status, 404)
  t.equal(unknown.json.code, 404)
  t.type(unknown.json.errorMessage, 'string')
  const wrongMethod = await call(emu, ISSUE, undefined, { method: 'GET' })
  t.equal(wrongMethod.status, 405)
  t.equal(wrongMethod.json.code, 405)
  t.equal(wrongMethod.headers.allow, 'POST')
  const withQuery = await call(emu, `${ISSUE}?x=1`, { userId: 'dan', name: 'D' })
  t.equal(withQuery.status, 200, 'query strings do not change the route')
})

t.test('oversized bodies are refused with 1005', async (t) => {
  const emu = await start(t)
  const res = await call(emu, ISSUE, { userId: 'eve', name: 'E', pad: 'x'.repeat(70_000) })
  t.equal(res.status, 400)
  t.equal(res.json.code, 1005)
})

t.test('reset() clears users, tokens, stats, faults and recorded requests', async (t) => {
  const emu = await start(t, { rateLimits: { [ISSUE]: 1 } })
  const token = await issue(emu, 'fay')
  emu.addFault({ kind: 'status', status: 503, endpoint: USER_GET })
  emu.reset()
  t.equal(emu.tokenStatus(token).reason, 'unknown')
  t.equal(emu.user('fay'), undefined)
  t.same(emu.stats(), { calls: {}, succeeded: {}, callsByUser: {}, peakPerSecond: {}, peakSliding: {}, byPort: [0], registeredUsers: 0, rejected: {} })
  t.same(emu.requests(), [])
  t.equal((await call(emu, USER_GET, { userId: 'fay' })).status, 400, 'fault gone')
  t.equal((await call(emu, ISSUE, { userId: 'fay', name: 'F' })).status, 200, 'rate-limit window cleared too')
})

t.test('random credentials when omitted; given ones are used', async (t) => {
  const a = await start(t)
  const b = await start(t)
  t.match(a.appKey, /^[A-Za-z0-9]{14}$/)
  t.not(a.appKey, b.appKey)
  t.not(a.appSecret, b.appSecret)
  const c = await start(t, { appKey: 'myKey', appSecret: 'mySecret' })
  t.equal(c.appKey, 'myKey')
  t.equal(c.appSecret, 'mySecret')
})
