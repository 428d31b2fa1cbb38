import t from 'tap'
import { startEmulator } from '../../src/emulator/index.ts'
import { call, issue, start, USER_GET, USER_UPDATE } from './helpers.ts'

t.test('user/get returns name, avatarUrl and createdAt', async (t) => {
  const emu = await start(t)
  await call(emu, '/v4/auth/access-token/issue', { userId: 'mia', name: 'Mia', avatarUrl: 'https://a/m.png' })
  const res = await call(emu, USER_GET, { userId: 'mia' })
  t.equal(res.status, 200)
  t.equal(res.json.code, 0)
  t.equal(res.json.result.name, 'Mia')
  t.equal(res.json.result.avatarUrl, 'https://a/m.png')
  t.match(res.json.result.createdAt, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
  t.equal(res.json.result.createdAt, emu.user('mia')?.createdAt)
})

t.test('user/get for an unknown user → code 400 with HTTP 400', async (t) => {
  const emu = await start(t)
  const res = await call(emu, USER_GET, { userId: 'nobody' })
  t.equal(res.status, 400)
  t.equal(res.json.code, 400)
})

t.test('user/update changes the given fields only', async (t) => {
  const emu = await start(t)
  await issue(emu, 'ned', 'Ned')
  const res = await call(emu, USER_UPDATE, { userId: 'ned', avatarUrl: 'https://a/n.png' })
  t.equal(res.status, 200)
  t.same(res.json, { code: 0 })
  t.match(emu.user('ned'), { name: 'Ned', avatarUrl: 'https://a/n.png' })
  await call(emu, USER_UPDATE, { userId: 'ned', name: 'Edward' })
  t.match(emu.user('ned'), { name: 'Edward', avatarUrl: 'https://a/n.png' })
  const got = await call(emu, USER_GET, { userId: 'ned' })
  t.equal(got.json.result.name, 'Edward')
})

t.test('user/update validation and unknown user', async (t) => {
  const emu = await start(t)
  await issue(emu, 'olga')
  t.equal((await call(emu, USER_UPDATE, { userId: 'olga', name: 'x'.repeat(65) })).json.code, 1005)
  t.equal((await call(emu, USER_UPDATE, { userId: 'ol ga', name: 'x' })).json.code, 1002)
  const unknown = await call(emu, USER_UPDATE, { userId: 'nobody', name: 'x' })
  t.equal(unknown.status, 400)
  t.equal(unknown.json.code, 400)
  t.equal(emu.user('nobody'), undefined, 'update does not register')
})

t.test('user/soft-delete: tokens stop working and none is issued; restore allows new ones only', async (t) => {
  const emu = await start(t)
  const before = await issue(emu, 'pia', 'Pia')
  const deleted = await call(emu, '/v4/user/soft-delete', { userIds: ['pia'] })
  t.equal(deleted.status, 200)
  t.match(deleted.json, { code: 0, result: { operationId: /^op\d+$/ } })
  t.same(emu.tokenStatus(before), { valid: false, userId: 'pia', reason: 'soft_deleted' })
  const refused = await call(emu, '/v4/auth/access-token/issue', { userId: 'pia', name: 'Pia' })
  t.equal(refused.status, 403, 'the placeholder answer: Nexconn documents no code for it')
  t.equal(refused.json.code, 99403)
  t.equal(emu.stats().callsByUser.pia, 1, 'nothing issued')
  t.equal((await call(emu, '/v4/user/restore', { userIds: ['pia'] })).json.code, 0)
  t.equal(emu.tokenStatus(before).valid, false, 'an old token stays invalid after a restore')
  const after = await issue(emu, 'pia', 'Pia')
  t.equal(emu.tokenStatus(after).valid, true, 'a new one works')
  t.equal((await call(emu, '/v4/user/soft-delete', { userIds: Array.from({ length: 101 }, (_, i) => `u${i}`) })).json.code, 1005, 'at most 100 users')
})

t.test('the soft-deleted answer is configurable, as every plausible variant must be tried', async (t) => {
  const emu = await start(t, { softDeletedAnswer: { status: 500, code: 20604 } })
  emu.softDelete(['quin'])
  const refused = await call(emu, '/v4/auth/access-token/issue', { userId: 'quin', name: 'Quin' })
  t.equal(refused.status, 500)
  t.equal(refused.json.code, 20604)
  emu.restore(['quin'])
  t.equal((await call(emu, '/v4/auth/access-token/issue', { userId: 'quin', name: 'Quin' })).json.code, 0)
  await t.rejects(startEmulator({ softDeletedAnswer: { status: 200, code: 0 } }), { name: 'TypeError' })
})
