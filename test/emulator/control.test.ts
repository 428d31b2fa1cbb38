import t from 'tap'
import { call, control, ISSUE, issue, start } from './helpers.ts'

t.test('control API: health, stats, requests, faults, verify, users, reset', async (t) => {
  const emu = await start(t)
  const health = await control(emu, 'GET', '/health')
  t.same(health.json, { ok: true, appKey: emu.appKey })

  const token = await issue(emu, 'zoe', 'Zoe')
  t.same((await control(emu, 'POST', '/tokens/verify', { token })).json, { valid: true, userId: 'zoe' })
  t.same((await control(emu, 'POST', '/tokens/verify', { token: 'nope' })).json, { valid: false, reason: 'unknown' })

  const user = await control(emu, 'GET', '/users/zoe')
  t.equal(user.status, 200)
  t.match(user.json, { name: 'Zoe', createdAt: /^\d{4}-/ })
  t.equal((await control(emu, 'GET', '/users/nobody')).status, 404)

  const stats = await control(emu, 'GET', '/stats')
  t.equal(stats.json.calls[ISSUE], 1)
  t.equal(stats.json.registeredUsers, 1)

  const requests = await control(emu, 'GET', '/requests')
  t.equal(requests.json.length, 1)
  t.equal(requests.json[0].path, ISSUE)

  const added = await control(emu, 'POST', '/faults', { kind: 'status', status: 503, times: 1 })
  t.equal(added.status, 201)
  t.equal((await call(emu, ISSUE, { userId: 'zoe', name: 'Zoe' })).status, 503)
  t.equal((await call(emu, ISSUE, { userId: 'zoe', name: 'Zoe' })).status, 200, 'times honoured via the control API')

  await control(emu, 'POST', '/faults', { kind: 'status', status: 500 })
  t.equal((await control(emu, 'DELETE', '/faults')).status, 200)
  t.equal((await call(emu, ISSUE, { userId: 'zoe', name: 'Zoe' })).status, 200)

  t.equal((await control(emu, 'POST', '/reset')).status, 200)
  t.equal(emu.user('zoe'), undefined)
  t.equal(emu.tokenStatus(token).reason, 'unknown')
  t.same(emu.stats().calls, {})
  t.same(emu.requests(), [])
})

t.test('control calls are neither counted nor recorded', async (t) => {
  const emu = await start(t)
  await control(emu, 'GET', '/stats')
  await control(emu, 'GET', '/health')
  await control(emu, 'POST', '/tokens/verify', { token: 'x' })
  t.same(emu.stats().byPort, [0])
  t.same(emu.stats().calls, {})
  t.same(emu.requests(), [])
})

t.test('control API input errors → 400; unknown control path → 404', async (t) => {
  const emu = await start(t)
  t.equal((await control(emu, 'POST', '/faults', { kind: 'explode' })).status, 400)
  const notJson = await call(emu, '/_emulator/faults', undefined, { method: 'POST', headers: {}, raw: { body: '{', contentType: 'application/json' } })
  t.equal(notJson.status, 400)
  t.equal((await control(emu, 'POST', '/tokens/verify', {})).status, 400)
  t.equal((await control(emu, 'GET', '/nothing')).status, 404)
})

t.test('control API rotates the App Secret', async (t) => {
  const emu = await start(t, { appSecret: 'old' })
  const token = await issue(emu, 'amy')
  t.equal((await control(emu, 'POST', '/app-secret', { secret: 'new' })).status, 200)
  t.equal(emu.appSecret, 'new')
  t.equal(emu.tokenStatus(token).reason, 'revoked')
  t.equal((await control(emu, 'POST', '/app-secret', { secret: '' })).status, 400)
})
