/**
 * The Fastify plugin in a tiny app, through inject(): status codes, headers, readiness and the
 * app's logs (collected from pino) free of tokens and claim values.
 */
import t, { type Test } from 'tap'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import authPlugin from '../../src/auth/plugin.ts'
import type { JwksOptions } from '../../src/auth/index.ts'
import { isBrokerError } from '../../src/errors.ts'
import { JwksServer, waitFor } from './helpers/jwks-server.ts'
import { captureLogger } from './helpers/log.ts'
import { bearer, claims, jwtConfig, nowS, publicJwk, rsaKeys, SECRET, signJwt } from './helpers/tokens.ts'

async function buildApp (t: Test, env: Record<string, string>, jwks?: Partial<JwksOptions>): Promise<{ app: FastifyInstance, logs: () => string }> {
  const { logger, text } = captureLogger()
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger })
  await app.register(authPlugin, { config: jwtConfig(env), ...(jwks === undefined ? {} : { jwks }) })
  app.setErrorHandler((err, request, reply) => {
    // What the real error handler does with a BrokerError: log it, render status and headers.
    request.log.info({ err }, 'request failed')
    if (!isBrokerError(err)) return reply.code(500).send({ code: 'internal_error' })
    if (err.retryAfterS !== undefined) reply.header('Retry-After', String(err.retryAfterS))
    return reply.code(err.statusCode).headers(err.headers).send({ code: err.code, detail: err.detail })
  })
  app.get('/me', async (request) => await app.auth.authenticate(request.headers.authorization))
  app.get('/ready', async (_request, reply) => reply.code(app.auth.ready() ? 200 : 503).send({ ready: app.auth.ready() }))
  t.teardown(() => app.close())
  await app.ready()
  return { app, logs: text }
}

t.test('secret mode through HTTP', async (t) => {
  const { app, logs } = await buildApp(t, { JWT_SECRET: SECRET, JWT_AUDIENCE: 'aud-1' })
  t.ok(app.hasDecorator('auth'))
  const sensitive = { sub: 'SubjectInLog1', name: 'NameInLog2', picture: 'https://cdn.example/PictureInLog3.png', aud: 'aud-1' }
  const valid = signJwt({ alg: 'HS256' }, claims(sensitive), SECRET)

  const ok = await app.inject({ url: '/me', headers: { authorization: bearer(valid) } })
  t.equal(ok.statusCode, 200)
  t.match(ok.json(), { userId: 'SubjectInLog1', name: 'NameInLog2', avatarUrl: 'https://cdn.example/PictureInLog3.png' })

  const missing = await app.inject({ url: '/me' })
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer')
  t.equal(missing.json().code, 'missing_token')

  const basic = await app.inject({ url: '/me', headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(basic.statusCode, 400)
  t.equal(basic.json().code, 'invalid_request')

  const cases: Array<[string, string, string]> = [
    ['expired', signJwt({ alg: 'HS256' }, claims({ ...sensitive, exp: nowS() - 3600 }), SECRET), 'The token has expired.'],
    ['not yet valid', signJwt({ alg: 'HS256' }, claims({ ...sensitive, nbf: nowS() + 3600 }), SECRET), 'The token is not valid yet.'],
    ['wrong audience', signJwt({ alg: 'HS256' }, claims({ ...sensitive, aud: 'AudInLog4' }), SECRET), 'The token audience is not accepted.'],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${valid.split('.')[1]}.`, 'The token algorithm is not allowed.'],
    ['crit', signJwt({ alg: 'HS256', crit: ['x-custom'], 'x-custom': 1 }, claims(sensitive), SECRET), 'The token has a critical header the broker does not support.'],
    ['array payload', signJwt({ alg: 'HS256' }, [sensitive], SECRET), 'The token is malformed.'],
    ['exp as string', signJwt({ alg: 'HS256' }, claims({ ...sensitive, exp: 'tomorrow' }), SECRET), 'The exp claim has the wrong type.'],
    ['bad signature', signJwt({ alg: 'HS256' }, claims(sensitive), 'another-secret-another-secret-another'), 'The token signature is invalid.']
  ]
  for (const [name, token, detail] of cases) {
    const res = await app.inject({ url: '/me', headers: { authorization: bearer(token) } })
    t.equal(res.statusCode, 401, `${name}: 401`)
    t.equal(res.json().code, 'invalid_token', `${name}: invalid_token`)
    t.equal(res.json().detail, detail, `${name}: detail`)
    t.equal(res.headers['www-authenticate'], `Bearer error="invalid_token", error_description="${detail}"`, `${name}: WWW-Authenticate`)
  }

  const rawInvalid = await app.inject({ url: '/me', headers: { authorization: bearer(signJwt({ alg: 'HS256' }, claims({ ...sensitive, sub: 'auth0|SubInLog5' }), SECRET)) } })
  t.equal(rawInvalid.statusCode, 403)
  t.equal(rawInvalid.json().code, 'invalid_user_id')

  t.equal((await app.inject({ url: '/ready' })).statusCode, 200)

  const text = logs()
  t.match(text, /request failed/, 'errors were logged by the app')
  for (const [, token] of cases) {
    for (const part of token.split('.').slice(1)) if (part.length > 8) t.notOk(text.includes(part), 'no token segment in logs')
  }
  for (const value of ['SubjectInLog1', 'NameInLog2', 'PictureInLog3', 'AudInLog4', 'SubInLog5', SECRET, valid.split('.')[1] ?? 'x']) {
    t.notOk(text.includes(value), `no "${value.slice(0, 20)}" in logs`)
  }
})

t.test('JWKS mode through HTTP: down at start → 503 + Retry-After, then 200; readiness follows', async (t) => {
  const keys = rsaKeys()
  const server = await JwksServer.start([publicJwk(keys.publicKey, { kid: 'k1', alg: 'RS256' })])
  t.teardown(() => server.close())
  server.mode = 'fail'
  const { app } = await buildApp(t, { JWT_JWKS_URL: server.url, JWT_ISSUER: 'https://idp/', JWT_AUDIENCE: 'api' }, { unloadedRetryMs: 150 })
  const token = bearer(signJwt({ alg: 'RS256', kid: 'k1' }, claims({ iss: 'https://idp/', aud: 'api' }), keys.privateKey))

  t.equal((await app.inject({ url: '/ready' })).statusCode, 503)
  const unavailable = await app.inject({ url: '/me', headers: { authorization: token } })
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.json().code, 'keys_unavailable')
  t.equal(unavailable.headers['retry-after'], '5')

  server.mode = 'ok'
  t.ok(await waitFor(() => app.auth.ready()), 'keys loaded by a background retry')
  t.equal((await app.inject({ url: '/ready' })).statusCode, 200)
  const ok = await app.inject({ url: '/me', headers: { authorization: token } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().userId, 'user1')
  t.equal(ok.json().issuer, 'https://idp/')

  const unknown = await app.inject({ url: '/me', headers: { authorization: bearer(signJwt({ alg: 'RS256', kid: 'nope' }, claims({ iss: 'https://idp/', aud: 'api' }), keys.privateKey)) } })
  t.equal(unknown.statusCode, 401)
  t.equal(unknown.json().detail, 'The token was signed with an unknown key.')
})

t.test('closing the app closes the authenticator (no fetch afterwards)', async (t) => {
  const keys = rsaKeys()
  const server = await JwksServer.start([publicJwk(keys.publicKey, { kid: 'k1' })])
  t.teardown(() => server.close())
  const { app } = await buildApp(t, { JWT_JWKS_URL: server.url, JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, { refreshIntervalMs: 50 })
  t.ok(app.auth.ready(), 'onReady waited for the first fetch')
  t.ok(await waitFor(() => server.hits >= 2), 'periodic refresh runs')
  await app.close()
  const hits = server.hits
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.equal(server.hits, hits, 'the refresh timer was cleared')
})
