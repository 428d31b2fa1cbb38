/**
 * The JWKS key store against a real HTTP server on loopback: rotation, cooldown, negative
 * cache, failures, hangs and limits. Time bounds are generous (busy 2-core CI machines).
 */
import t, { type Test } from 'tap'
import { assertInvalid, harness, rejection } from './helpers/auth.ts'
import { JwksServer, waitFor } from './helpers/jwks-server.ts'
import { bearer, claims, ecKeys, publicJwk, rsaKeys, SECRET, signJwt } from './helpers/tokens.ts'
import { randomBytes } from 'node:crypto'

const k1 = rsaKeys()
const k2 = rsaKeys()
const ISS = 'https://idp.example/'
const AUD = 'broker'

function env (server: JwksServer, extra: Record<string, string> = {}): Record<string, string> {
  return { JWT_JWKS_URL: server.url, JWT_ISSUER: ISS, JWT_AUDIENCE: AUD, ...extra }
}
function token (kid: string | undefined, key = k1.privateKey, sub = 'user1'): string {
  const header: Record<string, unknown> = { alg: 'RS256' }
  if (kid !== undefined) header.kid = kid
  return bearer(signJwt(header, claims({ sub, iss: ISS, aud: AUD }), key))
}
async function jwksServer (t: Test, keys: unknown[]): Promise<JwksServer> {
  const server = await JwksServer.start(keys)
  t.teardown(() => server.close())
  return server
}

t.test('rotation: a new kid works after one refetch; a removed kid stops working', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  const h = await harness(t, env(server))
  await h.auth.start()
  const old = token('k1')
  t.equal((await h.auth.authenticate(old)).userId, 'user1')
  t.equal((await h.auth.authenticate(old)).userId, 'user1')
  t.equal(h.outcomes.at(-1), 'cached', 'the old token is in the verification cache')
  t.equal(server.hits, 1)

  server.keys = [publicJwk(k2.publicKey, { kid: 'k2' })]
  t.equal((await h.auth.authenticate(token('k2', k2.privateKey, 'user2'))).userId, 'user2', 'the new kid verifies')
  t.equal(server.hits, 2, 'after exactly one refetch')
  await assertInvalid(t, h, h.auth.authenticate(old), 'unknown_key', 'the removed kid, although its result was cached')
  t.equal(server.hits, 2, 'the removed kid costs no fetch (cooldown)')
  t.same(h.fetches, ['ok', 'ok'])
})

t.test('1,000 random kids cost at most one refetch', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  const h = await harness(t, env(server))
  await h.auth.start()
  t.equal(server.hits, 1)
  const concurrent = Array.from({ length: 500 }, async () => await rejection(h.auth.authenticate(token(randomBytes(8).toString('hex')))))
  const errors = await Promise.all(concurrent)
  for (let i = 0; i < 500; i++) {
    errors.push(await rejection(h.auth.authenticate(token(randomBytes(8).toString('hex')))))
  }
  t.equal(errors.length, 1000)
  t.ok(errors.every((e) => e.code === 'invalid_token' && e.detail === 'The token was signed with an unknown key.'), 'every one is an unknown key')
  t.ok(server.hits <= 2, `at most one refetch (hits: ${server.hits})`)
  t.equal((await h.auth.authenticate(token('k1'))).userId, 'user1', 'the real key still works')
})

t.test('after the cooldown an unknown kid may refetch again; a negative-cached kid may not', async (t) => {
  let clock = 1_000_000
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  const h = await harness(t, env(server), { now: () => clock })
  await h.auth.start()
  await rejection(h.auth.authenticate(token('ghost')))
  t.equal(server.hits, 2, 'first unknown kid: one refetch')
  clock += 31_000
  await rejection(h.auth.authenticate(token('ghost')))
  t.equal(server.hits, 2, 'the same kid is negatively cached')
  await rejection(h.auth.authenticate(token('other')))
  t.equal(server.hits, 3, 'a different kid after the cooldown refetches once')
  clock += 61_000
  server.keys = [publicJwk(k1.publicKey, { kid: 'k1' }), publicJwk(k2.publicKey, { kid: 'ghost' })]
  t.equal((await h.auth.authenticate(token('ghost', k2.privateKey, 'late'))).userId, 'late', 'the negative entry expires')
  t.equal(server.hits, 4)
})

t.test('a hung JWKS server: the answer comes within its budget', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  server.mode = 'hang'
  const h = await harness(t, env(server))
  let started = Date.now()
  await h.auth.start()
  t.ok(Date.now() - started < 3000, `start() returns within the 2 s deadline (${Date.now() - started} ms)`)
  t.same(h.fetches, ['timeout'])
  started = Date.now()
  const err = await rejection(h.auth.authenticate(token('k1')))
  t.equal(err.code, 'keys_unavailable')
  t.equal(err.statusCode, 503)
  t.equal(err.retryAfterS, 5)
  t.ok(Date.now() - started < 3000, `keys_unavailable within budget (${Date.now() - started} ms)`)

  // With keys loaded, a hung refresh never delays known kids, and unknown kids wait at most the budget.
  server.mode = 'ok'
  const loaded = await harness(t, env(server))
  await loaded.auth.start()
  server.mode = 'hang'
  started = Date.now()
  await assertInvalid(t, loaded, loaded.auth.authenticate(token('new-kid')), 'unknown_key')
  t.ok(Date.now() - started < 3000, `unknown kid answered within budget (${Date.now() - started} ms)`)
  started = Date.now()
  t.equal((await loaded.auth.authenticate(token('k1', k1.privateKey, 'cachedKey'))).userId, 'cachedKey', 'last good key set serves')
  t.ok(Date.now() - started < 1000, 'a known kid does not wait for the endpoint')
})

t.test('a server dripping bytes is cut off by the overall deadline', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  server.mode = 'drip'
  const h = await harness(t, env(server), { timeoutMs: 500 })
  const started = Date.now()
  await h.auth.start()
  t.ok(Date.now() - started < 2500, `drip stopped (${Date.now() - started} ms)`)
  t.same(h.fetches, ['timeout'])
  t.notOk(h.auth.ready())
})

t.test('JWKS down at start: keys_unavailable until it comes up, then success', async (t) => {
  let clock = 0
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  server.mode = 'fail'
  const h = await harness(t, env(server), { now: () => clock, unloadedRetryMs: 60_000 })
  await h.auth.start()
  t.notOk(h.auth.ready())
  const first = await rejection(h.auth.authenticate(token('k1')))
  t.equal(first.code, 'keys_unavailable')
  t.equal(server.hits, 2, 'a request retried the fetch')
  t.equal((await rejection(h.auth.authenticate(token('k1')))).code, 'keys_unavailable')
  t.equal(server.hits, 2, 'within the cooldown requests do not refetch')
  server.mode = 'ok'
  t.equal((await rejection(h.auth.authenticate(token('k1')))).code, 'keys_unavailable', 'still within the cooldown')
  clock += 30_000
  t.equal((await h.auth.authenticate(token('k1'))).userId, 'user1', 'after the cooldown the next request loads the keys')
  t.ok(h.auth.ready())
  t.same(h.fetches, ['error', 'error', 'ok'])
})

t.test('JWKS down at start: the background retry loads the keys', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  server.mode = 'fail'
  const h = await harness(t, env(server), { unloadedRetryMs: 100 })
  await h.auth.start()
  t.notOk(h.auth.ready())
  server.mode = 'ok'
  t.ok(await waitFor(() => h.auth.ready()), 'ready after a background retry')
  t.equal((await h.auth.authenticate(token('k1'))).userId, 'user1')
})

t.test('periodic refresh picks up removals; failures keep the last good set; ETag', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' }), publicJwk(k2.publicKey, { kid: 'k2' })])
  server.etag = '"v1"'
  const h = await harness(t, env(server), { refreshIntervalMs: 100, failedRetryMs: 100 })
  await h.auth.start()
  const early = token('k2', k2.privateKey)
  t.equal((await h.auth.authenticate(early)).userId, 'user1')
  // The store's own record, not the server's count: the server counts its 304 before the store has read it.
  t.ok(await waitFor(() => h.fetches.includes('not_modified')), 'a refresh of an unchanged set is a 304 to the store')
  t.ok(server.notModified >= 1, 'the server answered 304')

  server.mode = 'fail'
  const failuresBefore = h.fetches.filter((f) => f === 'error').length
  t.ok(await waitFor(() => h.fetches.filter((f) => f === 'error').length > failuresBefore), 'a refresh failed')
  t.equal((await h.auth.authenticate(token('k1', k1.privateKey, 'stillOk'))).userId, 'stillOk', 'the last good set still serves')
  t.ok(h.auth.ready())

  server.mode = 'ok'
  server.etag = '"v2"'
  server.keys = [publicJwk(k1.publicKey, { kid: 'k1' })]
  const hits = server.hits
  t.ok(await waitFor(() => server.hits > hits && h.fetches.at(-1) === 'ok'), 'refreshed')
  await assertInvalid(t, h, h.auth.authenticate(token('k2', k2.privateKey, 'other')), 'unknown_key', 'k2 removed by the periodic refresh')
  await assertInvalid(t, h, h.auth.authenticate(early), 'unknown_key', 'even a token verified (and cached) before the removal')
})

t.test('what the store accepts from a JWKS', async (t) => {
  const ec = ecKeys('P-256')
  const weak = { kty: 'RSA', n: rsaKeys().publicKey.export({ format: 'jwk' }).n?.slice(0, 171), e: 'AQAB', kid: 'weak' }
  const server = await jwksServer(t, [
    { kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), kid: 'oct', alg: 'HS256' },
    publicJwk(k1.publicKey, { kid: 'enc', use: 'enc' }),
    publicJwk(k1.publicKey, { kid: 'wrongAlg', alg: 'RS512' }),
    publicJwk(k1.publicKey, { kid: 'opsNoVerify', key_ops: ['encrypt'] }),
    publicJwk(ec.publicKey, { kid: 'ecNotPinned' }),
    weak,
    { kty: 'RSA', kid: 'broken', n: 'AA', e: 'AQAB' },
    'not an object',
    publicJwk(k1.publicKey, { kid: 'good', alg: 'RS256', x5u: 'http://127.0.0.1:1/x', d: 'bogus-private-member' })
  ])
  const h = await harness(t, env(server))
  await h.auth.start()
  t.ok(h.auth.ready())
  const signed = (kid: string, alg = 'RS256', key: import('node:crypto').KeyObject | string = k1.privateKey): string =>
    bearer(signJwt({ alg, kid }, claims({ iss: ISS, aud: AUD }), key))
  t.equal((await h.auth.authenticate(signed('good'))).userId, 'user1', 'a sig key with its alg in the pinned list')
  await assertInvalid(t, h, h.auth.authenticate(signed('oct', 'HS256', SECRET)), 'alg_not_allowed', 'oct key with HS256')
  await assertInvalid(t, h, h.auth.authenticate(signed('oct')), 'unknown_key', 'oct key ignored')
  for (const kid of ['enc', 'wrongAlg', 'opsNoVerify', 'weak', 'broken']) {
    await assertInvalid(t, h, h.auth.authenticate(signed(kid)), 'unknown_key', `${kid} ignored`)
  }
  await assertInvalid(t, h, h.auth.authenticate(signed('ecNotPinned', 'ES256', ec.privateKey)), 'alg_not_allowed', 'ES256 not pinned')
  t.ok(h.logs().includes('JWKS loaded'))
})

t.test('a token without kid: accepted only when exactly one key fits its alg', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  const h = await harness(t, env(server))
  await h.auth.start()
  t.equal((await h.auth.authenticate(token(undefined))).userId, 'user1', 'one key: used')
  server.keys = [publicJwk(k1.publicKey, { kid: 'k1' }), publicJwk(k2.publicKey, { kid: 'k2' })]
  await h.auth.authenticate(token('k2', k2.privateKey))
  await assertInvalid(t, h, h.auth.authenticate(token(undefined, k1.privateKey, 'again')), 'unknown_key', 'two keys: ambiguous')
})

t.test('unusable JWKS answers keep the endpoint "not loaded" and are reported', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  for (const mode of ['not_json', 'huge', 'redirect'] as const) {
    server.mode = mode
    const h = await harness(t, env(server))
    await h.auth.start()
    t.notOk(h.auth.ready(), `${mode}: not loaded`)
    t.same(h.fetches, ['error'], `${mode}: reported as error`)
    t.match(h.logs(), /JWKS fetch failed/)
  }
  server.mode = 'ok'
  server.keys = [{ kty: 'oct', k: 'c2VjcmV0', kid: 'only-oct' }]
  const h = await harness(t, env(server))
  await h.auth.start()
  t.notOk(h.auth.ready(), 'a set with no usable key is not a key set')
  t.match(h.logs(), /no key usable/)
  const doc = await harness(t, env(server))
  server.keys = 'nope' as unknown as unknown[]
  await doc.auth.start()
  t.notOk(doc.auth.ready(), '"keys" must be an array')
})

t.test('close() aborts a hung fetch and stops the timers', async (t) => {
  const server = await jwksServer(t, [publicJwk(k1.publicKey, { kid: 'k1' })])
  server.mode = 'hang'
  const h = await harness(t, env(server), { timeoutMs: 10_000 })
  const starting = h.auth.start()
  await waitFor(() => server.hits === 1)
  const started = Date.now()
  await h.auth.close()
  await starting
  t.ok(Date.now() - started < 2000, 'close() did not wait for the 10 s deadline')
  t.same(h.fetches, ['error'])
  const hits = server.hits
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(server.hits, hits, 'no fetch after close')
})
