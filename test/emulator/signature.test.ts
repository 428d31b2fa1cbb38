import t from 'tap'
import { sign } from '../../src/emulator/signature.ts'
import { call, ISSUE, newNonce, signedHeaders, start } from './helpers.ts'

const body = { userId: 'alice', name: 'Alice' }

t.test('sign() matches the documented test vector', async (t) => {
  t.equal(sign('Y1W2MeFwwwRxa0', '14314', '1408710653000'), '30be0bbca9c9b2e27578701e9fda2358a814c88f')
})

t.test('both header styles are accepted', async (t) => {
  const emu = await start(t)
  const plain = await call(emu, ISSUE, body, { sign: { style: 'plain' } })
  t.equal(plain.status, 200)
  t.equal(plain.json.code, 0)
  const rc = await call(emu, ISSUE, body, { sign: { style: 'rc' } })
  t.equal(rc.status, 200)
  t.equal(rc.json.code, 0)
})

t.test('bad or missing signature → 401/1004, and nothing is issued', async (t) => {
  const emu = await start(t)
  const wrongSecret = await call(emu, ISSUE, body, { sign: { secret: 'not-the-secret' } })
  t.equal(wrongSecret.status, 401)
  t.equal(wrongSecret.json.code, 1004)
  t.type(wrongSecret.json.errorMessage, 'string')

  const headers = signedHeaders(emu)
  for (const missing of ['App-Key', 'Nonce', 'Timestamp', 'Signature']) {
    const partial = { ...headers }
    delete partial[missing]
    const res = await call(emu, ISSUE, body, { headers: partial })
    t.equal(res.status, 401, `missing ${missing}`)
    t.equal(res.json.code, 1004, `missing ${missing}`)
  }
  t.equal(emu.stats().registeredUsers, 0)
  t.equal(emu.stats().rejected['1004'], 5)
})

t.test('unknown App Key → 401/1001', async (t) => {
  const emu = await start(t)
  const res = await call(emu, ISSUE, body, { sign: { appKey: 'someOtherKey' } })
  t.equal(res.status, 401)
  t.equal(res.json.code, 1001)
})

t.test('nonce longer than 18 characters is rejected; 18 is fine', async (t) => {
  const emu = await start(t)
  const long = await call(emu, ISSUE, body, { sign: { nonce: '1234567890123456789' } })
  t.equal(long.status, 401)
  t.equal(long.json.code, 1004)
  t.match(long.json.errorMessage, /Nonce/)
  const max = await call(emu, ISSUE, body, { sign: { nonce: '123456789012345678' } })
  t.equal(max.status, 200)
})

t.test('timestamp must be digits even in lenient mode', async (t) => {
  const emu = await start(t)
  const res = await call(emu, ISSUE, body, { sign: { timestamp: '2024-01-01T00:00:00Z' } })
  t.equal(res.status, 401)
  t.equal(res.json.code, 1004)
})

t.test('lenient mode accepts reused nonces, old timestamps (seconds even) and uppercase hex', async (t) => {
  const emu = await start(t)
  const nonce = newNonce()
  t.equal((await call(emu, ISSUE, body, { sign: { nonce } })).status, 200)
  t.equal((await call(emu, ISSUE, body, { sign: { nonce } })).status, 200, 'reused nonce')
  t.equal((await call(emu, ISSUE, body, { sign: { timestamp: '1408710653' } })).status, 200, 'seconds, years old')
  const ts = String(Date.now())
  const upper = sign(emu.appSecret, nonce, ts).toUpperCase()
  t.equal((await call(emu, ISSUE, body, { sign: { nonce, timestamp: ts, signature: upper } })).status, 200, 'uppercase')
})

t.test('strict mode rejects reused nonces, stale timestamps and uppercase hex', async (t) => {
  const emu = await start(t, { strict: { skewMs: 60_000 } })
  const nonce = newNonce()
  t.equal((await call(emu, ISSUE, body, { sign: { nonce } })).status, 200)
  const reused = await call(emu, ISSUE, body, { sign: { nonce } })
  t.equal(reused.status, 401, 'reused nonce')
  t.equal(reused.json.code, 1004)

  for (const offset of [-61_000, 61_000]) {
    const res = await call(emu, ISSUE, body, { sign: { timestamp: String(Date.now() + offset) } })
    t.equal(res.status, 401, `skew ${offset}`)
    t.equal(res.json.code, 1004)
  }
  t.equal((await call(emu, ISSUE, body, { sign: { timestamp: String(Date.now() - 30_000) } })).status, 200, 'within skew')

  const n2 = newNonce()
  const ts = String(Date.now())
  const upper = sign(emu.appSecret, n2, ts).toUpperCase()
  const res = await call(emu, ISSUE, body, { sign: { nonce: n2, timestamp: ts, signature: upper } })
  t.equal(res.status, 401, 'uppercase hex')
  t.equal(res.json.code, 1004)
})

t.test('strict: true uses the default 300 s window', async (t) => {
  const emu = await start(t, { strict: true })
  t.equal((await call(emu, ISSUE, body, { sign: { timestamp: String(Date.now() - 200_000) } })).status, 200)
  t.equal((await call(emu, ISSUE, body, { sign: { timestamp: String(Date.now() - 400_000) } })).status, 401)
})

t.test('a forged request does not burn the nonce in strict mode', async (t) => {
  const emu = await start(t, { strict: true })
  const nonce = newNonce()
  t.equal((await call(emu, ISSUE, body, { sign: { nonce, secret: 'forged' } })).status, 401)
  t.equal((await call(emu, ISSUE, body, { sign: { nonce } })).status, 200)
})

t.test('X-Request-ID: up to 36 characters accepted, longer → 400/1005', async (t) => {
  const emu = await start(t)
  const ok = await call(emu, ISSUE, body, { headers: { ...signedHeaders(emu), 'X-Request-ID': crypto.randomUUID() } })
  t.equal(ok.status, 200)
  const long = await call(emu, ISSUE, body, { headers: { ...signedHeaders(emu), 'X-Request-ID': 'x'.repeat(37) } })
  t.equal(long.status, 400)
  t.equal(long.json.code, 1005)
})

t.test('secret rotation: old secret is refused, new one works, old tokens die', async (t) => {
  const emu = await start(t, { appSecret: 'firstSecret' })
  const res = await call(emu, ISSUE, body)
  const token = res.json.result.accessToken
  emu.setAppSecret('secondSecret')
  t.equal(emu.appSecret, 'secondSecret')
  t.same(emu.tokenStatus(token), { valid: false, userId: 'alice', reason: 'revoked' })
  t.equal((await call(emu, ISSUE, body, { sign: { secret: 'firstSecret' } })).json.code, 1004)
  const fresh = await call(emu, ISSUE, body)
  t.equal(fresh.status, 200)
  t.equal(emu.tokenStatus(fresh.json.result.accessToken).valid, true)
})
