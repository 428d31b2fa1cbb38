import t from 'tap'
import { call, callForm, ISSUE, LEGACY_GET_TOKEN, start } from './helpers.ts'

t.test('issue registers the user and answers {code:0,result:{userId,accessToken}}', async (t) => {
  const emu = await start(t)
  const res = await call(emu, ISSUE, { userId: 'jlk456j5', name: 'Jo', avatarUrl: 'https://example.com/a.png' })
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(res.json.code, 0)
  t.equal(res.json.result.userId, 'jlk456j5')
  t.type(res.json.result.accessToken, 'string')
  t.match(emu.user('jlk456j5'), { name: 'Jo', avatarUrl: 'https://example.com/a.png' })
  t.match(emu.user('jlk456j5')?.createdAt, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
  t.same(emu.tokenStatus(res.json.result.accessToken), { valid: true, userId: 'jlk456j5' })
  t.equal(emu.stats().registeredUsers, 1)
  t.same(emu.stats().callsByUser, { jlk456j5: 1 })
})

t.test('tokens: base64-like with + / =, at most 256 bytes, new each call, old ones stay valid', async (t) => {
  const emu = await start(t)
  const tokens: string[] = []
  for (let i = 0; i < 5; i++) tokens.push((await call(emu, ISSUE, { userId: 'bob', name: 'Bob' })).json.result.accessToken)
  t.equal(new Set(tokens).size, 5, 'all different')
  for (const token of tokens) {
    t.ok(Buffer.byteLength(token) <= 256)
    t.match(token, /^[A-Za-z0-9+/]+=*$/)
    t.ok(token.includes('+') && token.includes('/') && token.includes('='), 'contains + / =')
    t.equal(emu.tokenStatus(token).valid, true)
  }
  t.equal(emu.stats().registeredUsers, 1, 're-issue does not register twice')
  t.same(emu.tokenStatus('bm90LWEtdG9rZW4='), { valid: false, reason: 'unknown' })
})

t.test('re-issuing with another name/avatar overwrites the profile but keeps createdAt', async (t) => {
  const emu = await start(t)
  await call(emu, ISSUE, { userId: 'carol', name: 'Carol', avatarUrl: 'https://a/1.png' })
  const created = emu.user('carol')?.createdAt
  await call(emu, ISSUE, { userId: 'carol', name: 'Caroline', avatarUrl: 'https://a/2.png' })
  t.same(emu.user('carol'), { name: 'Caroline', avatarUrl: 'https://a/2.png', createdAt: created })
})

t.test('validation: 1002 for invalid, 1005 for too long, always HTTP 400, nothing registered', async (t) => {
  const emu = await start(t)
  const cases: Array<[string, unknown, number]> = [
    ['missing userId', { name: 'x' }, 1002],
    ['empty userId', { userId: '', name: 'x' }, 1002],
    ['userId with dash', { userId: 'a-b', name: 'x' }, 1002],
    ['userId with non-ASCII', { userId: 'ü1', name: 'x' }, 1002],
    ['userId not a string', { userId: 42, name: 'x' }, 1002],
    ['userId 65 bytes', { userId: 'a'.repeat(65), name: 'x' }, 1005],
    ['missing name', { userId: 'a' }, 1002],
    ['blank name', { userId: 'a', name: '  ' }, 1002],
    ['name 65 chars', { userId: 'a', name: 'n'.repeat(65) }, 1005],
    ['avatarUrl not a string', { userId: 'a', name: 'x', avatarUrl: 5 }, 1002],
    ['avatarUrl 1025 bytes', { userId: 'a', name: 'x', avatarUrl: 'h'.repeat(1025) }, 1005],
    ['array body', [{ userId: 'a', name: 'x' }], 1002],
  ]
  for (const [label, body, code] of cases) {
    const res = await call(emu, ISSUE, body)
    t.equal(res.status, 400, label)
    t.equal(res.json.code, code, label)
    t.type(res.json.errorMessage, 'string', label)
  }
  t.equal(emu.stats().registeredUsers, 0)
})

t.test('validation limits are inclusive: 64-byte userId, 64-char name (code points), 1024-byte avatar', async (t) => {
  const emu = await start(t)
  const res = await call(emu, ISSUE, { userId: 'a'.repeat(64), name: '😀'.repeat(64), avatarUrl: 'h'.repeat(1024) })
  t.equal(res.status, 200)
})

t.test('unparseable JSON or a wrong content type → 400/1002', async (t) => {
  const emu = await start(t)
  const broken = await call(emu, ISSUE, undefined, { raw: { body: '{"userId":', contentType: 'application/json' } })
  t.equal(broken.status, 400)
  t.equal(broken.json.code, 1002)
  const form = await call(emu, ISSUE, undefined, { raw: { body: 'userId=a&name=b', contentType: 'application/x-www-form-urlencoded' } })
  t.equal(form.status, 400)
  t.equal(form.json.code, 1002)
  const charset = await call(emu, ISSUE, undefined, { raw: { body: '{"userId":"a","name":"b"}', contentType: 'application/json; charset=utf-8' } })
  t.equal(charset.status, 200, 'charset parameter is fine')
})

t.test('user cap → 2007 with HTTP 403 for new users; existing users still get tokens', async (t) => {
  const emu = await start(t, { maxUsers: 2 })
  t.equal((await call(emu, ISSUE, { userId: 'u1', name: 'x' })).status, 200)
  t.equal((await call(emu, ISSUE, { userId: 'u2', name: 'x' })).status, 200)
  const third = await call(emu, ISSUE, { userId: 'u3', name: 'x' })
  t.equal(third.status, 403)
  t.equal(third.json.code, 2007)
  t.equal(emu.user('u3'), undefined)
  t.equal((await call(emu, ISSUE, { userId: 'u1', name: 'again' })).status, 200)
  t.equal(emu.stats().registeredUsers, 2)
  t.equal(emu.stats().rejected['2007'], 1)
})

t.test('legacy /user/getToken.json: form body, {code:200,userId,token}, same token store', async (t) => {
  const emu = await start(t)
  const res = await callForm(emu, LEGACY_GET_TOKEN, new URLSearchParams({ userId: 'dave', name: 'Dave', portraitUri: 'https://p/d.png' }))
  t.equal(res.status, 200)
  t.equal(res.json.code, 200)
  t.equal(res.json.userId, 'dave')
  t.same(emu.tokenStatus(res.json.token), { valid: true, userId: 'dave' })
  t.same(emu.user('dave')?.avatarUrl, 'https://p/d.png')
  t.same(emu.stats().callsByUser, { dave: 1 })

  const json = await call(emu, LEGACY_GET_TOKEN, { userId: 'dave', name: 'Dave' })
  t.equal(json.status, 400, 'JSON body refused on the form endpoint')
  t.equal(json.json.code, 1002)
  const bad = await callForm(emu, LEGACY_GET_TOKEN, new URLSearchParams({ userId: 'd!', name: 'D' }))
  t.equal(bad.json.code, 1002)
})
