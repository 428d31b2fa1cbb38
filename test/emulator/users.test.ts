import t from 'tap'
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
