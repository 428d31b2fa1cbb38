/**
 * A valid token in each key mode and algorithm family, and the pinning of algorithms.
 */
import t from 'tap'
import { createSigner } from 'fast-jwt'
import { assertInvalid, harness } from './helpers/auth.ts'
import { JwksServer } from './helpers/jwks-server.ts'
import { bearer, claims, ecKeys, edKeys, pem, publicJwk, rsaKeys, rsaPssKeys, SECRET, signJwt, type Alg, type KeyPair } from './helpers/tokens.ts'

const rsa = rsaKeys()
const rsaPss = rsaPssKeys()
const p256 = ecKeys('P-256')
const p384 = ecKeys('P-384')
const p521 = ecKeys('P-521')
const ed = edKeys()

t.test('secret mode: HS256 by default, HS384/HS512 when listed', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  const identity = await h.auth.authenticate(bearer(signJwt({ alg: 'HS256', typ: 'JWT' }, claims(), SECRET)))
  t.equal(identity.userId, 'user1')
  t.equal(h.outcomes.at(-1), 'ok')
  t.ok(h.auth.ready(), 'secret mode is ready at once')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'HS512' }, claims(), SECRET))), 'alg_not_allowed', 'HS512 not listed')

  const all = await harness(t, { JWT_SECRET: SECRET, JWT_ALGORITHMS: 'HS256,HS384,HS512' })
  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    const identity = await all.auth.authenticate(bearer(signJwt({ alg }, claims({ sub: `u${alg}` }), SECRET)))
    t.equal(identity.userId, `u${alg}`, alg)
  }
  await assertInvalid(t, all, all.auth.authenticate(bearer(signJwt({ alg: 'HS256' }, claims(), `${SECRET}x`))), 'bad_signature', 'other secret')
})

t.test('a token signed by fast-jwt\'s own signer verifies', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  const token = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 60_000 })({ sub: 'viaSigner' })
  t.equal((await h.auth.authenticate(bearer(token))).userId, 'viaSigner')
})

const pemCases: Array<{ name: string, keys: KeyPair, algorithms: Alg[], env?: string }> = [
  { name: 'RSA, RS256 by default', keys: rsa, algorithms: ['RS256'] },
  { name: 'RSA with PS256 and RS512 listed', keys: rsa, algorithms: ['PS256', 'RS512'], env: 'PS256,RS512' },
  { name: 'RSA-PSS key', keys: rsaPss, algorithms: ['PS256'] },
  { name: 'EC P-256', keys: p256, algorithms: ['ES256'] },
  { name: 'EC P-384', keys: p384, algorithms: ['ES384'] },
  { name: 'EC P-521', keys: p521, algorithms: ['ES512'] },
  { name: 'Ed25519', keys: ed, algorithms: ['EdDSA'] }
]

for (const c of pemCases) {
  t.test(`PEM mode: ${c.name}`, async (t) => {
    const env: Record<string, string> = { JWT_PUBLIC_KEY: pem(c.keys.publicKey) }
    if (c.env !== undefined) env.JWT_ALGORITHMS = c.env
    const h = await harness(t, env)
    for (const alg of c.algorithms) {
      const identity = await h.auth.authenticate(bearer(signJwt({ alg }, claims({ sub: 'pemUser' }), c.keys.privateKey)))
      t.equal(identity.userId, 'pemUser', `${alg} verifies`)
    }
    // Signed by another key of the same type: the signature must fail.
    const other = c.keys === ed ? edKeys() : c.keys === rsaPss ? rsaPssKeys() : c.keys === rsa ? rsaKeys() : ecKeys(c.algorithms[0] === 'ES256' ? 'P-256' : c.algorithms[0] === 'ES384' ? 'P-384' : 'P-521')
    const alg = c.algorithms[0] as Alg
    await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg }, claims(), other.privateKey))), 'bad_signature', 'other key')
  })
}

t.test('PEM mode: an algorithm of the right family but not listed is refused', async (t) => {
  const h = await harness(t, { JWT_PUBLIC_KEY: pem(rsa.publicKey) })
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'RS512' }, claims(), rsa.privateKey))), 'alg_not_allowed')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'PS256' }, claims(), rsa.privateKey))), 'alg_not_allowed')
})

t.test('JWKS mode: one key of each family', async (t) => {
  const server = await JwksServer.start([
    publicJwk(rsa.publicKey, { kid: 'rsa', use: 'sig' }),
    publicJwk(p256.publicKey, { kid: 'p256', alg: 'ES256' }),
    publicJwk(p384.publicKey, { kid: 'p384' }),
    publicJwk(ed.publicKey, { kid: 'ed', alg: 'EdDSA' })
  ])
  t.teardown(() => server.close())
  const h = await harness(t, {
    JWT_JWKS_URL: server.url,
    JWT_ISSUER: 'https://idp.example',
    JWT_AUDIENCE: 'broker',
    JWT_ALGORITHMS: 'RS256,PS256,ES256,ES384,EdDSA'
  })
  t.notOk(h.auth.ready(), 'not ready before the first fetch')
  await h.auth.start()
  t.ok(h.auth.ready(), 'ready once the keys are loaded')
  t.same(h.fetches, ['ok'])
  const cases: Array<[Alg, string, KeyPair]> = [['RS256', 'rsa', rsa], ['PS256', 'rsa', rsa], ['ES256', 'p256', p256], ['ES384', 'p384', p384], ['EdDSA', 'ed', ed]]
  for (const [alg, kid, keys] of cases) {
    const token = signJwt({ alg, kid }, claims({ sub: `jwks${kid}`, iss: 'https://idp.example', aud: 'broker' }), keys.privateKey)
    t.equal((await h.auth.authenticate(bearer(token))).userId, `jwks${kid}`, `${alg} with kid ${kid}`)
  }
  // A key only verifies the algorithms of its type: ES256 with the RSA kid is refused.
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'ES256', kid: 'rsa' }, claims({ iss: 'https://idp.example', aud: 'broker' }), p256.privateKey))), 'alg_not_allowed', 'ES256 token naming the RSA key')
  t.equal(server.hits, 1, 'valid tokens cost no refetch')
})

t.test('createAuthenticator refuses nothing valid and start() is idempotent outside JWKS mode', async (t) => {
  const h = await harness(t, { JWT_PUBLIC_KEY: pem(ed.publicKey) })
  await h.auth.start()
  await h.auth.start()
  t.ok(h.auth.ready())
})
