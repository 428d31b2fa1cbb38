/**
 * Claims → Identity: user id modes, nested claims, name and avatar fallbacks, hostile payloads.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { hashUserId } from '../../src/auth/index.ts'
import { getClaim, truncate } from '../../src/auth/identity.ts'
import { assertInvalid, harness, rejection } from './helpers/auth.ts'
import { b64url, bearer, claims, SECRET, signJwt } from './helpers/tokens.ts'
import { createHmac } from 'node:crypto'

/** sha256("https://example.auth0.com/\nauth0|abc123"), also quoted in docs/authentication.md. */
const KNOWN_HASH = '99f6462bbf6baa8e5afafdd7e929bf7ead918d3817d343da3aa91609546e8184'

const sign = (payload: unknown): string => bearer(signJwt({ alg: 'HS256' }, payload, SECRET))

t.test('hash mode: the documented formula, with a known vector', async (t) => {
  t.equal(hashUserId('https://example.auth0.com/', 'auth0|abc123'), KNOWN_HASH, 'the exact value for a known input')
  t.equal(hashUserId('', 'abc'), createHash('sha256').update('\nabc').digest('hex'), 'no issuer = empty string')

  const h = await harness(t, { JWT_SECRET: SECRET, USER_ID_MODE: 'hash' })
  const identity = await h.auth.authenticate(sign(claims({ iss: 'https://example.auth0.com/', sub: 'auth0|abc123' })))
  t.equal(identity.userId, KNOWN_HASH)
  t.match(identity.userId, /^[0-9a-f]{64}$/)
  t.equal(identity.issuer, 'https://example.auth0.com/')
  t.equal(identity.name, KNOWN_HASH, 'name falls back to the user id')
  const noIss = await h.auth.authenticate(sign(claims({ sub: 'auth0|abc123' })))
  t.equal(noIss.userId, hashUserId('', 'auth0|abc123'), 'no iss: hashed with ""')
  t.equal(noIss.issuer, undefined)
  const uuid = await h.auth.authenticate(sign(claims({ iss: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X', sub: '8f14e45f-ceea-467f-a0e6-3c5d1a2f9b10' })))
  t.equal(uuid.userId, hashUserId('https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X', '8f14e45f-ceea-467f-a0e6-3c5d1a2f9b10'))
})

t.test('hash mode: the shell one-liner in the docs gives the same value', async (t) => {
  let out: string
  try {
    out = execFileSync('sh', ['-c', 'printf \'%s\\n%s\' "$ISS" "$SUB" | sha256sum | cut -d" " -f1'], {
      env: { PATH: process.env.PATH ?? '', ISS: 'https://example.auth0.com/', SUB: 'auth0|abc123' }
    }).toString().trim()
  } catch {
    t.pass('sha256sum not available; skipped')
    return
  }
  t.equal(out, KNOWN_HASH)
})

t.test('raw mode: letters and digits up to 64, else invalid_user_id telling to use hash', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  t.equal((await h.auth.authenticate(sign(claims({ sub: 'Abc123' })))).userId, 'Abc123')
  t.equal((await h.auth.authenticate(sign(claims({ sub: 'a'.repeat(64) })))).userId, 'a'.repeat(64))
  for (const sub of ['auth0|abc', '8f14e45f-ceea-467f-a0e6-3c5d1a2f9b10', 'a'.repeat(65), 'ü', 'a b', 'a\n']) {
    const err = await rejection(h.auth.authenticate(sign(claims({ sub }))))
    t.equal(err.code, 'invalid_user_id', JSON.stringify(sub))
    t.equal(err.statusCode, 403)
    t.match(err.detail, /USER_ID_MODE=hash/)
    t.notMatch(err.detail, sub.slice(0, 10), 'the value is not echoed')
  }
})

t.test('user id claim types: strings; non-negative safe integers stringified; else 401', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  t.equal((await h.auth.authenticate(sign(claims({ sub: 12345 })))).userId, '12345', 'integer stringified')
  for (const sub of [1.5, -1, 2 ** 53, true, { id: 'x' }, ['x']]) {
    const err = await assertInvalid(t, h, h.auth.authenticate(sign(claims({ sub }))), 'bad_user_id_type', JSON.stringify(sub))
    t.equal(err.detail, 'The sub claim must be a string.')
  }
  for (const sub of [undefined, null, '']) {
    const payload = claims({ sub })
    if (sub === undefined) delete payload.sub
    const err = await assertInvalid(t, h, h.auth.authenticate(sign(payload)), 'missing_user_id', JSON.stringify(sub))
    t.equal(err.detail, 'The token has no sub claim.')
  }
})

t.test('nested claims through a dotted path, own properties of plain objects only', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET, JWT_USER_ID_CLAIM: 'app.user.id', JWT_NAME_CLAIM: 'app.user.display', JWT_AVATAR_CLAIM: 'app.user.photo' })
  const identity = await h.auth.authenticate(sign(claims({ app: { user: { id: 'nested1', display: 'Nested Name', photo: 'https://cdn.example/p.png' } } })))
  t.same({ ...identity }, { userId: 'nested1', name: 'Nested Name', avatarUrl: 'https://cdn.example/p.png', expiresAt: identity.expiresAt })
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ app: [{ user: { id: 'x' } }] }))), 'missing_user_id', 'through an array')
  t.equal((await h.auth.authenticate(sign(claims({ 'app.user.id': 'flat1' })))).userId, 'flat1', 'a key with dots, as written, is found first')
  t.equal((await h.auth.authenticate(sign(claims({ 'app.user.id': 'exact1', app: { user: { id: 'nested2' } } })))).userId, 'exact1', 'the exact key wins over the path')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ app: { user: 'str' } }))), 'missing_user_id', 'through a string')

  t.equal(getClaim({ a: { b: 1 } }, 'a.b'), 1)
  t.equal(getClaim({ a: Object.create({ b: 1 }) }, 'a.b'), undefined, 'inherited property ignored')
  t.equal(getClaim({}, 'toString'), undefined, 'Object.prototype not reachable')
  t.equal(getClaim({ a: new Map([['b', 1]]) }, 'a.b'), undefined, 'not a plain object')
})

t.test('__proto__ and constructor in a payload change nothing', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET, USER_ID_MODE: 'hash' })
  const exp = Math.floor(Date.now() / 1000) + 600
  const raw = `{"sub":"victim","exp":${exp},"__proto__":{"sub":"admin","iss":"https://evil","name":"Admin","isAdmin":true,"exp":9999999999},"constructor":{"prototype":{"polluted":true}}}`
  const input = `${b64url({ alg: 'HS256' })}.${b64url(raw)}`
  const token = `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
  const identity = await h.auth.authenticate(bearer(token))
  t.equal(identity.userId, hashUserId('', 'victim'))
  t.equal(identity.issuer, undefined, 'iss not taken from __proto__')
  t.equal(identity.name, identity.userId, 'name not taken from __proto__')
  t.equal(identity.expiresAt, exp * 1000)
  t.equal(Object.getPrototypeOf(identity), Object.prototype)
  t.equal(({} as Record<string, unknown>).isAdmin, undefined, 'no prototype pollution')
  t.equal(({} as Record<string, unknown>).polluted, undefined)

  const proto = await harness(t, { JWT_SECRET: SECRET })
  const onlyProto = `${b64url({ alg: 'HS256' })}.${b64url(`{"exp":${exp},"__proto__":{"sub":"admin"}}`)}`
  await assertInvalid(t, proto, proto.auth.authenticate(bearer(`${onlyProto}.${createHmac('sha256', SECRET).update(onlyProto).digest('base64url')}`)), 'missing_user_id', 'sub only under __proto__')
})

t.test('name: claim, nickname, preferred_username, then the user id; cut to 64', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  const name = async (extra: Record<string, unknown>): Promise<string> => (await h.auth.authenticate(sign(claims(extra)))).name
  t.equal(await name({ name: 'Alice', nickname: 'al', preferred_username: 'alice1' }), 'Alice')
  t.equal(await name({ nickname: 'al', preferred_username: 'alice1' }), 'al')
  t.equal(await name({ name: '   ', preferred_username: 'alice1' }), 'alice1', 'blank name skipped')
  t.equal(await name({ name: 42, nickname: ['x'] }), 'user1', 'non-strings skipped; the user id last')
  t.equal(await name({ name: 'x'.repeat(100) }), 'x'.repeat(64))
  t.equal(await name({ name: 'Bob\u0000\nSmith\u007f' }), 'Bob Smith', 'control characters removed')
  const emoji = await name({ name: `${'a'.repeat(63)}😀` })
  t.equal(emoji, 'a'.repeat(63), 'a surrogate pair is not split')
  t.equal(truncate('😀'.repeat(40), 64), '😀'.repeat(32))
  const custom = await harness(t, { JWT_SECRET: SECRET, JWT_NAME_CLAIM: 'given_name' })
  t.equal((await custom.auth.authenticate(sign(claims({ given_name: 'Gina', name: 'Full Name' })))).name, 'Gina')
})

t.test('avatar: only http(s) URLs of at most 1024 bytes', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  const avatar = async (picture: unknown): Promise<string | undefined> => (await h.auth.authenticate(sign(claims({ picture })))).avatarUrl
  t.equal(await avatar('https://cdn.example/a.png'), 'https://cdn.example/a.png')
  t.equal(await avatar('http://cdn.example/a.png'), 'http://cdn.example/a.png')
  t.equal(await avatar(`https://cdn.example/${'a'.repeat(990)}`), `https://cdn.example/${'a'.repeat(990)}`)
  t.equal(await avatar(`https://cdn.example/${'a'.repeat(1010)}`), undefined, 'over 1024 bytes')
  for (const bad of ['javascript:alert(1)', 'data:image/png;base64,AAAA', 'ftp://cdn.example/a.png', 'file:///etc/passwd', '//cdn.example/a.png', 'not a url', 'https://user:pass@cdn.example/a.png', 42, { url: 'https://x' }]) {
    t.equal(await avatar(bad), undefined, `dropped: ${JSON.stringify(bad)}`)
  }
  const identity = await h.auth.authenticate(sign(claims({ picture: 'javascript:alert(1)' })))
  t.notOk('avatarUrl' in identity, 'the key is absent, not undefined')
})
