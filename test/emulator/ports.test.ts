import t from 'tap'
import { request } from 'undici'
import { call, control, ISSUE, issue, start } from './helpers.ts'

t.test('two ports share one state: issue on the primary, see it on the backup', async (t) => {
  const emu = await start(t, { ports: [0, 0] })
  t.equal(emu.urls.length, 2)
  t.not(emu.urls[0], emu.urls[1])
  for (const url of emu.urls) t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const token = await issue(emu, 'uma', 'Uma', 0)
  const verify = await control(emu, 'POST', '/tokens/verify', { token }, 1)
  t.same(verify.json, { valid: true, userId: 'uma' })
  const got = await call(emu, '/v4/user/get', { userId: 'uma' }, { port: 1 })
  t.equal(got.json.result.name, 'Uma')
  t.same(emu.stats().byPort, [1, 1])
})

t.test('rate limits are shared across ports (one App Key)', async (t) => {
  const emu = await start(t, { ports: [0, 0], rateLimits: { [ISSUE]: 2 } })
  t.equal((await call(emu, ISSUE, { userId: 'v', name: 'v' }, { port: 0 })).status, 200)
  t.equal((await call(emu, ISSUE, { userId: 'v', name: 'v' }, { port: 1 })).status, 200)
  t.equal((await call(emu, ISSUE, { userId: 'v', name: 'v' }, { port: 1 })).status, 429)
})

t.test('a fault targeting port 0 leaves port 1 working (primary fails, backup succeeds)', async (t) => {
  const emu = await start(t, { ports: [0, 0] })
  emu.addFault({ kind: 'status', status: 503, port: 0 })
  t.equal((await call(emu, ISSUE, { userId: 'wes', name: 'W' }, { port: 0 })).status, 503)
  const backup = await call(emu, ISSUE, { userId: 'wes', name: 'W' }, { port: 1 })
  t.equal(backup.status, 200)
  t.same(emu.stats().byPort, [1, 1])
  t.same(emu.stats().callsByUser, { wes: 1 })
  t.same(emu.requests().map((r) => [r.port, r.status]), [[0, 503], [1, 200]])
})

t.test('pause: connections refused while paused, state kept; resume on the same port', async (t) => {
  const emu = await start(t, { ports: [0, 0] })
  const token = await issue(emu, 'xena', 'X', 0)
  await emu.pause(0)
  await t.rejects(request(`${emu.urls[0]}/_emulator/health`), { code: 'ECONNREFUSED' })
  t.equal((await call(emu, ISSUE, { userId: 'xena', name: 'X' }, { port: 1 })).status, 200, 'backup still up')
  await emu.resume(0)
  const health = await request(`${emu.urls[0]}/_emulator/health`)
  t.equal(health.statusCode, 200, 'same URL works again')
  await health.body.dump()
  t.equal(emu.tokenStatus(token).valid, true, 'state kept')
  await emu.pause(0)
  await emu.pause(0) // idempotent
  await emu.resume(0)
  await emu.resume(0)
  await t.rejects(emu.pause(2), RangeError)
})

t.test('pause drops kept-alive connections too, so clients cannot keep using the paused port', async (t) => {
  const emu = await start(t)
  t.equal((await call(emu, ISSUE, { userId: 'yan', name: 'Y' })).status, 200) // leaves a pooled connection
  await emu.pause(0)
  await t.rejects(call(emu, ISSUE, { userId: 'yan', name: 'Y' }))
  await emu.resume(0)
})

t.test('fixed ports are honoured', async (t) => {
  const probe = await start(t)
  const port = Number(new URL(probe.urls[0] ?? '').port)
  await probe.close()
  const emu = await start(t, { ports: [port] })
  t.equal(emu.urls[0], `http://127.0.0.1:${port}`)
  await t.rejects(start(t, { ports: [port] }), { code: 'EADDRINUSE' })
})
