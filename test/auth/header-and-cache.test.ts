/**
 * The Authorization header, the verification cache, hooks and what gets logged.
 */
import Fastify from 'fastify'
import t from 'tap'
import authPlugin from '../../src/auth/plugin.ts'
import { BrokerError } from '../../src/errors.ts'
import { assertInvalid, harness, rejection } from './helpers/auth.ts'
import { bearer, claims, jwtConfig, nowS, SECRET, signJwt } from './helpers/tokens.ts'

const good = (): string => signJwt({ alg: 'HS256' }, claims(), SECRET)

t.test('missing header → missing_token with WWW-Authenticate: Bearer', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  for (const value of [undefined, '', '   ']) {
    const err = await rejection(h.auth.authenticate(value))
    t.equal(err.code, 'missing_token')
    t.equal(err.statusCode, 401)
    t.same(err.headers, { 'WWW-Authenticate': 'Bearer' })
  }
  t.equal(h.outcomes.at(-1), 'missing_token')
})

t.test('a header that is not "Bearer <token>" → invalid_request (400)', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  const token = good()
  for (const value of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Bearer    ', token, `Token ${token}`, `Bearer ${token} extra`, `Bearer\t${token}`, `Bearer,${token}`, 'x'.repeat(20_000)]) {
    const err = await rejection(h.auth.authenticate(value))
    t.equal(err.code, 'invalid_request', JSON.stringify(value.slice(0, 30)))
    t.equal(err.statusCode, 400)
  }
  t.equal((await h.auth.authenticate(`bearer ${token}`)).userId, 'user1', 'the scheme is case-insensitive')
  t.equal((await h.auth.authenticate(`BEARER  ${token} `)).userId, 'user1', 'extra spaces tolerated')
})

t.test('oversize token rejected before decoding, also in a huge header', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  await assertInvalid(t, h, h.auth.authenticate(`Bearer ${'a'.repeat(8193)}`), 'too_large', '8193 bytes')
  await assertInvalid(t, h, h.auth.authenticate(`Bearer ${'a'.repeat(100_000)}`), 'too_large', '100 kB')
  await assertInvalid(t, h, h.auth.authenticate(`Bearer ${'é'.repeat(4100)}`), 'too_large', 'counted in bytes, not characters')
})

t.test('successes are cached until exp; failures never are', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  const token = bearer(good())
  const first = await h.auth.authenticate(token)
  const second = await h.auth.authenticate(token)
  t.same(second, first)
  t.same(h.outcomes, ['ok', 'cached'])
  second.userId = 'mutated'
  t.equal((await h.auth.authenticate(token)).userId, 'user1', 'callers cannot alter the cached identity')

  const bad = bearer(signJwt({ alg: 'HS256' }, claims(), `${SECRET}!`))
  await rejection(h.auth.authenticate(bad))
  await rejection(h.auth.authenticate(bad))
  t.same(h.outcomes.slice(-2), ['bad_signature', 'bad_signature'], 'a failure is verified again, not cached')
})

t.test('a cached success does not outlive the token exp', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET, JWT_CLOCK_TOLERANCE_S: '0' })
  const exp = nowS() + 2
  const token = bearer(signJwt({ alg: 'HS256' }, claims({ exp }), SECRET))
  t.equal((await h.auth.authenticate(token)).expiresAt, exp * 1000)
  t.equal(h.outcomes.at(-1), 'ok')
  await h.auth.authenticate(token)
  t.equal(h.outcomes.at(-1), 'cached')
  await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 1100))
  await assertInvalid(t, h, h.auth.authenticate(token), 'expired', 'after exp the cached success is gone')
})

t.test('authenticate never throws anything but BrokerError; a faulty hook changes nothing', async (t) => {
  const { auth } = await harness(t, { JWT_SECRET: SECRET })
  const app = Fastify({ logger: false })
  await app.register(authPlugin, { config: jwtConfig({ JWT_SECRET: SECRET }), hooks: { onVerify: () => { throw new Error('hook bug') } } })
  t.teardown(() => app.close())
  t.equal((await app.auth.authenticate(bearer(good()))).userId, 'user1', 'a throwing metrics hook decides nothing')
  t.equal((await auth.authenticate(bearer(good()))).userId, 'user1')
  const inputs: unknown[] = [42, null, {}, ['Bearer x'], 'Bearer a.b.c', 'Bearer ..', 'Bearer a..', `Bearer ${'A'.repeat(50)}.${'B'.repeat(50)}.C`]
  for (const input of inputs) {
    const err = await auth.authenticate(input as string).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof BrokerError, `${JSON.stringify(input)} → BrokerError`)
    t.ok(err instanceof BrokerError && err.statusCode < 500, 'never a 5xx')
  }
  const arrayHeader = await rejection(auth.authenticate(['Bearer a', 'Bearer b'] as unknown as string))
  t.equal(arrayHeader.code, 'invalid_request', 'a non-string header value is a malformed request')
})

t.test('logs carry neither the token nor claim values', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET, JWT_ISSUER: 'https://issuer.example', JWT_AUDIENCE: 'aud-x' })
  const secretish = { sub: 'SubjectValue77', name: 'NameValue88', email: 'mail@value.example', iss: 'https://issuer.example', aud: 'aud-x' }
  const tokens = [
    signJwt({ alg: 'HS256' }, claims({ ...secretish, exp: nowS() - 3600 }), SECRET),
    signJwt({ alg: 'HS256' }, claims({ ...secretish, aud: 'OtherAudience99' }), SECRET),
    signJwt({ alg: 'HS256' }, claims({ ...secretish, iss: 'https://OtherIssuer.example' }), SECRET),
    signJwt({ alg: 'HS256' }, claims({ ...secretish, nbf: nowS() + 3600 }), SECRET),
    signJwt({ alg: 'HS256' }, [secretish], SECRET),
    signJwt({ alg: 'HS512' }, claims(secretish), SECRET),
    signJwt({ alg: 'HS256' }, claims(secretish), 'wrong-secret-wrong-secret-wrong-secret')
  ]
  for (const token of tokens) await rejection(h.auth.authenticate(bearer(token)))
  const logs = h.logs()
  t.match(logs, /bearer token rejected/, 'rejections are logged')
  t.match(logs, /FAST_JWT_EXPIRED/, 'with the library code')
  for (const token of tokens) {
    t.notOk(logs.includes(token.split('.')[1] ?? ''), 'no payload segment')
    t.notOk(logs.includes(token.split('.')[2] ?? ''), 'no signature segment')
  }
  for (const value of ['SubjectValue77', 'NameValue88', 'mail@value.example', 'OtherAudience99', 'OtherIssuer', SECRET]) {
    t.notOk(logs.includes(value), `no "${value}" in logs`)
  }
})
