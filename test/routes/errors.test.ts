import t from 'tap'
import { ERRORS } from '../../src/errors.ts'
import { bearer, brokerEnv, brokerFor, emulatorFor, ISSUE, jwtFor } from '../helpers/broker.ts'

const PROBLEM_KEYS = ['code', 'detail', 'requestId', 'status', 'title', 'type']

function assertProblem (t: Tap.Test, res: { statusCode: number, headers: Record<string, unknown>, json: () => any }, status: number, code: string): void {
  t.equal(res.statusCode, status, `${code} → ${status}`)
  t.match(String(res.headers['content-type']), /^application\/problem\+json/)
  const body = res.json()
  t.same(Object.keys(body).sort(), PROBLEM_KEYS)
  t.equal(body.code, code)
  t.equal(body.status, status)
  t.equal(body.requestId, res.headers['x-request-id'])
  t.match(body.type, new RegExp(`/docs/errors\\.md#${code}$`))
}

declare namespace Tap { type Test = import('tap').Test }

t.test('every error path answers its catalogue code', async (t) => {
  const emulator = await emulatorFor(t)
  const { app, logs } = await brokerFor(t, brokerEnv(emulator), {
    ready: true
  })

  const missing = await app.inject({ method: 'POST', url: '/v1/token' })
  assertProblem(t, missing, 401, 'missing_token')
  t.equal(missing.headers['www-authenticate'], 'Bearer')

  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: 'Basic dXNlcjpwdw==' } }), 400, 'invalid_request')

  const expired = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('frank1', { exp: Math.floor(Date.now() / 1000) - 3600 }) })
  assertProblem(t, expired, 401, 'invalid_token')
  t.match(String(expired.headers['www-authenticate']), /^Bearer error="invalid_token"/)
  t.match(expired.json().detail, /expired/i)

  const forged = `${jwtFor('frank1').slice(0, -4)}AAAA`
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${forged}` } }), 401, 'invalid_token')

  const pipe = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('auth0|abc') })
  assertProblem(t, pipe, 403, 'invalid_user_id')
  t.match(pipe.json().detail, /USER_ID_MODE=hash/)

  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/token', headers: { ...bearer('frank1'), 'content-type': 'application/json' }, payload: '{"forceRefresh":' }), 400, 'invalid_request')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('frank1'), payload: { forceRefresh: 'yes' } }), 400, 'invalid_request')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('frank1'), payload: { userId: 'someone' } }), 400, 'invalid_request')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/token', headers: { ...bearer('frank1'), 'content-type': 'text/plain' }, payload: 'hi' }), 415, 'unsupported_media_type')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('frank1'), payload: { forceRefresh: true, pad: 'x'.repeat(200_000) } }), 413, 'payload_too_large')
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/nothing?secret=1' }), 404, 'not_found')

  emulator.addFault({ kind: 'business_error', code: 1004, endpoint: ISSUE })
  const rejected = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('grace1') })
  assertProblem(t, rejected, 502, 'upstream_rejected')
  t.equal(rejected.headers['retry-after'], undefined, 'no Retry-After: retrying does not help')
  t.notMatch(rejected.json().detail, /1004|signature/i, 'no upstream detail leaks')
  emulator.clearFaults()

  emulator.addFault({ kind: 'status', status: 500, endpoint: ISSUE })
  const unavailable = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('grace1') })
  assertProblem(t, unavailable, 503, 'upstream_unavailable')
  t.match(unavailable.headers['retry-after'], /^\d+$/)
  emulator.clearFaults()
  const recovered = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('grace1') })
  t.equal(recovered.statusCode, 200, 'nothing from the failures was cached')

  app.readiness.beginClosing()
  const closing = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('grace1') })
  assertProblem(t, closing, 503, 'shutting_down')
  t.equal(closing.headers['retry-after'], '1')
  t.equal(closing.headers.connection, 'close')
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)

  t.notMatch(logs.text, /secret=1/, 'query strings are not logged')
})

t.test('internal errors never expose their message', async (t) => {
  const emulator = await emulatorFor(t)
  const { app, logs } = await brokerFor(t, brokerEnv(emulator), {
    setup: (app) => { app.get('/boom', async () => { throw new Error('database password is hunter2') }) }
  })
  const res = await app.inject({ method: 'GET', url: '/boom' })
  assertProblem(t, res, 500, 'internal_error')
  t.notMatch(res.body, /hunter2/)
  t.notMatch(logs.text, /hunter2/, 'messages of foreign errors are not logged either')
  t.match(logs.text, /"code":"internal_error"/)
})

t.test('JWKS keys not loaded → 503 keys_unavailable with Retry-After; readiness fails', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, {
    JWT_SECRET: undefined,
    JWT_JWKS_URL: 'http://127.0.0.1:9/jwks.json',
    JWT_ISSUER: 'https://idp.example.com/',
    JWT_AUDIENCE: 'chat'
  }))
  const segment = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const rs256 = `${segment({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${segment({ iss: 'https://idp.example.com/', aud: 'chat', sub: 'x1', exp: Math.floor(Date.now() / 1000) + 60 })}.${'A'.repeat(342)}`
  const res = await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${rs256}` } })
  assertProblem(t, res, 503, 'keys_unavailable')
  t.match(res.headers['retry-after'], /^\d+$/)
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().components.keys, 'loading')
})

t.test('liveness touches nothing; readiness reports components', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))
  const live = await app.inject({ method: 'GET', url: '/livez' })
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', components: { config: 'ok', keys: 'ok', redis: 'disabled', nexconn: 'ok' } })
})

t.test('the catalogue is documented in the README', async (t) => {
  const { readFileSync } = await import('node:fs')
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  for (const [code, { status }] of Object.entries(ERRORS)) {
    t.match(readme, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `${code} has a row`)
  }
})
