import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { call, callForm, EXPIRE, issue, LEGACY_EXPIRE, start } from './helpers.ts'

t.test('expire: tokens issued before expiresAt are revoked, later ones valid, others untouched', async (t) => {
  const emu = await start(t)
  const old = await issue(emu, 'erin')
  const bystander = await issue(emu, 'frank')
  await sleep(5) // distinct millisecond for the cutoff
  const res = await call(emu, EXPIRE, { userIds: ['erin'], expiresAt: Date.now() })
  t.equal(res.status, 200)
  t.same(res.json, { code: 0 })
  await sleep(5)
  const fresh = await issue(emu, 'erin')
  t.same(emu.tokenStatus(old), { valid: false, userId: 'erin', reason: 'revoked' })
  t.same(emu.tokenStatus(fresh), { valid: true, userId: 'erin' })
  t.equal(emu.tokenStatus(bystander).valid, true)
})

t.test('expire: an earlier cutoff sent later does not resurrect tokens', async (t) => {
  const emu = await start(t)
  const token = await issue(emu, 'gina')
  await sleep(5)
  await call(emu, EXPIRE, { userIds: ['gina'], expiresAt: Date.now() })
  await call(emu, EXPIRE, { userIds: ['gina'], expiresAt: 1 })
  t.equal(emu.tokenStatus(token).reason, 'revoked')
})

t.test('expire validation: ≤20 user IDs, expiresAt a ms number', async (t) => {
  const emu = await start(t)
  const ids = Array.from({ length: 21 }, (_, i) => `u${i}`)
  const tooMany = await call(emu, EXPIRE, { userIds: ids, expiresAt: Date.now() })
  t.equal(tooMany.status, 400)
  t.equal(tooMany.json.code, 1005)
  t.equal((await call(emu, EXPIRE, { userIds: ids.slice(0, 20), expiresAt: Date.now() })).status, 200)
  for (const body of [{ userIds: [], expiresAt: 1 }, { userIds: 'a', expiresAt: 1 }, { userIds: ['a'] }, { userIds: ['a'], expiresAt: '123' }, { userIds: ['a-b'], expiresAt: 1 }]) {
    const res = await call(emu, EXPIRE, body)
    t.equal(res.status, 400, JSON.stringify(body))
    t.equal(res.json.code, 1002, JSON.stringify(body))
  }
})

t.test('legacy /user/token/expire.json: repeated userId, optional time', async (t) => {
  const emu = await start(t)
  const a = await issue(emu, 'hank')
  const b = await issue(emu, 'ivy')
  const c = await issue(emu, 'jack')
  await sleep(5)
  const form = new URLSearchParams([['userId', 'hank'], ['userId', 'ivy']])
  const res = await callForm(emu, LEGACY_EXPIRE, form)
  t.equal(res.status, 200)
  t.same(res.json, { code: 200 })
  t.equal(emu.tokenStatus(a).reason, 'revoked')
  t.equal(emu.tokenStatus(b).reason, 'revoked')
  t.equal(emu.tokenStatus(c).valid, true)

  const withTime = await callForm(emu, LEGACY_EXPIRE, new URLSearchParams({ userId: 'jack', time: '1' }))
  t.equal(withTime.status, 200)
  t.equal(emu.tokenStatus(c).valid, true, 'cutoff in 1970 revokes nothing')
  const badTime = await callForm(emu, LEGACY_EXPIRE, new URLSearchParams({ userId: 'jack', time: 'soon' }))
  t.equal(badTime.json.code, 1002)
})

t.test('tokenTtlMs: tokens expire after the console lifetime', async (t) => {
  const emu = await start(t, { tokenTtlMs: 50 })
  const token = await issue(emu, 'kim')
  t.equal(emu.tokenStatus(token).valid, true)
  await sleep(80)
  t.same(emu.tokenStatus(token), { valid: false, userId: 'kim', reason: 'expired' })
})

t.test('tokens are permanent by default', async (t) => {
  const emu = await start(t)
  const token = await issue(emu, 'lee')
  await sleep(20)
  t.equal(emu.tokenStatus(token).valid, true)
})
