/**
 * Forged, tampered and malformed tokens. Each must end in a 401 invalid_token with the
 * expected reason, never a success and never another kind of error.
 */
import t from 'tap'
import { createHmac } from 'node:crypto'
import { assertInvalid, harness } from './helpers/auth.ts'
import { connect } from 'node:net'
import { ConnectionCounter, JwksServer, waitFor } from './helpers/jwks-server.ts'
import { b64url, bearer, claims, ecKeys, nowS, pem, publicJwk, rsaKeys, SECRET, signJwt } from './helpers/tokens.ts'

const rsa = rsaKeys()
const attacker = rsaKeys()
const rsaPem = pem(rsa.publicKey)

function noneVariants (): string[] {
  // Every letter case of "none": 16 spellings.
  const result: string[] = []
  for (let mask = 0; mask < 16; mask++) {
    result.push([...'none'].map((c, i) => (mask & (1 << i)) !== 0 ? c.toUpperCase() : c).join(''))
  }
  return result
}

t.test('alg "none" in every letter case, with and without a signature, in every mode', async (t) => {
  const server = await JwksServer.start([publicJwk(rsa.publicKey, { kid: 'k1' })])
  t.teardown(() => server.close())
  const modes = [
    await harness(t, { JWT_SECRET: SECRET }),
    await harness(t, { JWT_PUBLIC_KEY: rsaPem }),
    await harness(t, { JWT_JWKS_URL: server.url, JWT_ISSUER: 'iss', JWT_AUDIENCE: 'aud' })
  ]
  const variants = noneVariants()
  t.equal(new Set(variants).size, 16)
  for (const h of modes) {
    await h.auth.start()
    for (const alg of variants) {
      const unsigned = `${b64url({ alg, kid: 'k1' })}.${b64url(claims({ iss: 'iss', aud: 'aud' }))}.`
      await assertInvalid(t, h, h.auth.authenticate(bearer(unsigned)), 'alg_not_allowed', `alg ${alg}`)
      const withSignature = `${unsigned}${createHmac('sha256', SECRET).update(unsigned.slice(0, -1)).digest('base64url')}`
      await assertInvalid(t, h, h.auth.authenticate(bearer(withSignature)), 'alg_not_allowed', `alg ${alg} signed`)
    }
    // No alg at all, or a non-string alg.
    await assertInvalid(t, h, h.auth.authenticate(bearer(`${b64url({ typ: 'JWT' })}.${b64url(claims())}.`)), 'alg_not_allowed', 'no alg')
    await assertInvalid(t, h, h.auth.authenticate(bearer(`${b64url({ alg: ['HS256'] })}.${b64url(claims())}.`)), 'alg_not_allowed', 'alg array')
  }
})

t.test('a stripped signature is refused', async (t) => {
  for (const [env, key, alg] of [[{ JWT_SECRET: SECRET }, SECRET, 'HS256'], [{ JWT_PUBLIC_KEY: rsaPem }, rsa.privateKey, 'RS256']] as const) {
    const h = await harness(t, env)
    const token = signJwt({ alg }, claims(), key)
    const stripped = token.slice(0, token.lastIndexOf('.') + 1)
    await assertInvalid(t, h, h.auth.authenticate(bearer(stripped)), 'missing_signature', `${alg} stripped`)
    await assertInvalid(t, h, h.auth.authenticate(bearer(`${stripped}AAAA`)), 'bad_signature', `${alg} junk signature`)
  }
})

t.test('RS256 → HS256 confusion: the public key (PEM or JWK JSON) used as an HMAC secret', async (t) => {
  const jwkJson = JSON.stringify(publicJwk(rsa.publicKey))
  const h = await harness(t, { JWT_PUBLIC_KEY: rsaPem, JWT_ALGORITHMS: 'RS256,PS256' })
  for (const [name, secret] of [['PEM text', rsaPem], ['PEM text trimmed', rsaPem.trim()], ['JWK JSON', jwkJson]] as const) {
    for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
      const forged = signJwt({ alg }, claims({ sub: 'forged' }), secret)
      await assertInvalid(t, h, h.auth.authenticate(bearer(forged)), 'alg_not_allowed', `${alg} with ${name}`)
    }
  }
  const server = await JwksServer.start([publicJwk(rsa.publicKey, { kid: 'k1' })])
  t.teardown(() => server.close())
  const j = await harness(t, { JWT_JWKS_URL: server.url, JWT_ISSUER: 'iss', JWT_AUDIENCE: 'aud' })
  await j.auth.start()
  for (const secret of [rsaPem, jwkJson, JSON.stringify({ keys: [publicJwk(rsa.publicKey, { kid: 'k1' })] })]) {
    const forged = signJwt({ alg: 'HS256', kid: 'k1' }, claims({ iss: 'iss', aud: 'aud' }), secret)
    await assertInvalid(t, j, j.auth.authenticate(bearer(forged)), 'alg_not_allowed', 'JWKS mode HS256')
  }
})

t.test('a relabelled alg fails the signature or the pin', async (t) => {
  const h = await harness(t, { JWT_PUBLIC_KEY: rsaPem, JWT_ALGORITHMS: 'RS256,RS384,PS256' })
  const token = signJwt({ alg: 'RS256' }, claims(), rsa.privateKey)
  const [, payload, signature] = token.split('.')
  for (const alg of ['RS384', 'PS256']) {
    await assertInvalid(t, h, h.auth.authenticate(bearer(`${b64url({ alg })}.${payload}.${signature}`)), 'bad_signature', `relabelled as ${alg}`)
  }
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${b64url({ alg: 'ES256' })}.${payload}.${signature}`)), 'alg_not_allowed', 'relabelled as ES256')
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${b64url({ alg: 'rs256' })}.${payload}.${signature}`)), 'alg_not_allowed', 'lower-case rs256')
})

t.test('keys in the token header (jwk, jku, x5u, x5c) are never used or fetched', async (t) => {
  const listener = await ConnectionCounter.start()
  t.teardown(() => listener.close())
  // The counter itself works: one probe connection is seen, then the count is reset.
  await new Promise<void>((resolve) => { connect(listener.port, '127.0.0.1').on('close', () => resolve()).on('error', () => resolve()) })
  t.ok(await waitFor(() => listener.connections === 1), 'the counter sees connections')
  listener.connections = 0
  const server = await JwksServer.start([publicJwk(rsa.publicKey, { kid: 'k1' })])
  t.teardown(() => server.close())
  const evilUrl = `http://127.0.0.1:${listener.port}/jwks.json`
  const attackerJwk = publicJwk(attacker.publicKey, { kid: 'k1' })
  const modes = [
    await harness(t, { JWT_PUBLIC_KEY: rsaPem }),
    await harness(t, { JWT_JWKS_URL: server.url, JWT_ISSUER: 'iss', JWT_AUDIENCE: 'aud' })
  ]
  const headers = [
    { alg: 'RS256', kid: 'k1', jwk: attackerJwk },
    { alg: 'RS256', kid: 'k1', jku: evilUrl },
    { alg: 'RS256', kid: 'k1', x5u: evilUrl },
    { alg: 'RS256', kid: 'evil', jku: evilUrl, x5u: evilUrl, jwk: attackerJwk },
    { alg: 'RS256', jku: evilUrl }
  ]
  for (const h of modes) {
    await h.auth.start()
    for (const header of headers) {
      const token = signJwt(header, claims({ iss: 'iss', aud: 'aud' }), attacker.privateKey)
      const err = await h.auth.authenticate(bearer(token)).then(() => undefined, (e: unknown) => e)
      t.ok(err !== undefined, `refused: ${Object.keys(header).join(',')}`)
      t.match(h.outcomes.at(-1), /^(bad_signature|unknown_key)$/)
    }
  }
  // Give any stray connection attempt time to land before counting.
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(listener.connections, 0, 'the listener named in jku/x5u received no connection')
  // A real key still verifies with the same header junk around it: the header is ignored, not trusted.
  const h = modes[0]
  if (h !== undefined) t.equal((await h.auth.authenticate(bearer(signJwt({ alg: 'RS256', jku: evilUrl }, claims({ sub: 'real' }), rsa.privateKey)))).userId, 'real')
  t.equal(listener.connections, 0)
})

t.test('kid path traversal and injection strings are unknown keys', async (t) => {
  const server = await JwksServer.start([publicJwk(rsa.publicKey, { kid: 'k1' })])
  t.teardown(() => server.close())
  const h = await harness(t, { JWT_JWKS_URL: server.url, JWT_ISSUER: 'iss', JWT_AUDIENCE: 'aud' })
  await h.auth.start()
  // eslint-disable-next-line no-template-curly-in-string -- a log4shell-style kid, literally
  const kids = ['../../../../etc/passwd', '/dev/null', "k1' OR '1'='1", 'k1"; DROP TABLE keys;--', '__proto__', 'constructor', 'k1\u0000', '${jndi:ldap://127.0.0.1/a}', 'k1/../k1', ' k1', 'K1']
  for (const kid of kids) {
    const token = signJwt({ alg: 'RS256', kid }, claims({ iss: 'iss', aud: 'aud' }), rsa.privateKey)
    await assertInvalid(t, h, h.auth.authenticate(bearer(token)), 'unknown_key', `kid ${JSON.stringify(kid)}`)
  }
  for (const kid of [42, { a: 1 }, ['k1'], '', 'x'.repeat(300)]) {
    const token = signJwt({ alg: 'RS256', kid }, claims({ iss: 'iss', aud: 'aud' }), rsa.privateKey)
    await assertInvalid(t, h, h.auth.authenticate(bearer(token)), 'unknown_key', `kid ${JSON.stringify(kid).slice(0, 20)}`)
  }
  t.ok(server.hits <= 2, 'all those kids cost at most one refetch')
})

t.test('a tampered payload or header fails the signature', async (t) => {
  const h = await harness(t, { JWT_PUBLIC_KEY: rsaPem })
  const token = signJwt({ alg: 'RS256' }, claims({ sub: 'alice' }), rsa.privateKey)
  const [header, , signature] = token.split('.')
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${header}.${b64url(claims({ sub: 'admin' }))}.${signature}`)), 'bad_signature', 'payload swapped')
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${b64url({ alg: 'RS256', typ: 'JWT' })}.${token.split('.')[1]}.${signature}`)), 'bad_signature', 'header changed')
  const flipped = signature?.startsWith('A') === true ? `B${signature.slice(1)}` : `A${signature?.slice(1)}`
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${header}.${token.split('.')[1]}.${flipped}`)), 'bad_signature', 'signature flipped')
  const e = ecKeys('P-256')
  const ec = await harness(t, { JWT_PUBLIC_KEY: pem(e.publicKey) })
  const ecToken = signJwt({ alg: 'ES256' }, claims(), e.privateKey)
  await assertInvalid(t, ec, ec.auth.authenticate(bearer(`${ecToken}AAAA`)), 'bad_signature', 'ECDSA signature of the wrong length')
})

t.test('time claims: expired, not yet valid, issued in the future, missing exp, wrong types', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET, JWT_CLOCK_TOLERANCE_S: '30' })
  const sign = (payload: Record<string, unknown>): string => bearer(signJwt({ alg: 'HS256' }, payload, SECRET))
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ exp: nowS() - 60 }))), 'expired')
  t.equal((await h.auth.authenticate(sign(claims({ exp: nowS() - 10 })))).userId, 'user1', 'expired within the tolerance (seconds, not ms) passes')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ nbf: nowS() + 120 }))), 'not_yet_valid')
  t.equal((await h.auth.authenticate(sign(claims({ nbf: nowS() + 10, sub: 'nbfok' })))).userId, 'nbfok', 'nbf within the tolerance passes')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iat: nowS() + 3600 }))), 'issued_in_future')
  const { exp: _exp, ...noExp } = claims()
  const missing = await assertInvalid(t, h, h.auth.authenticate(sign(noExp)), 'missing_claim')
  t.equal(missing.detail, 'The token has no exp claim.')
  const wrongTypes: Array<[string, unknown]> = [['exp', String(nowS() + 600)], ['exp', null], ['exp', [nowS() + 600]], ['nbf', 'yesterday'], ['iat', 'now'], ['iss', 42]]
  for (const [claim, value] of wrongTypes) {
    const err = await assertInvalid(t, h, h.auth.authenticate(sign(claims({ [claim]: value }))), 'bad_claim_type', `${claim} = ${JSON.stringify(value)}`)
    t.equal(err.detail, `The ${claim} claim has the wrong type.`)
  }
  // JSON 1e999 parses to Infinity: a token that never expires.
  const infinite = `${b64url({ alg: 'HS256' })}.${b64url('{"sub":"u","exp":1e999}')}`
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${infinite}.${createHmac('sha256', SECRET).update(infinite).digest('base64url')}`)), 'bad_claim_type', 'exp = Infinity')
})

t.test('issuer and audience: exact match against comma-separated lists', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET, JWT_ISSUER: 'https://a.example, https://b.example', JWT_AUDIENCE: 'app1,app2' })
  const sign = (payload: Record<string, unknown>): string => bearer(signJwt({ alg: 'HS256' }, payload, SECRET))
  t.equal((await h.auth.authenticate(sign(claims({ iss: 'https://b.example', aud: 'app2' })))).issuer, 'https://b.example')
  t.ok(await h.auth.authenticate(sign(claims({ iss: 'https://a.example', aud: ['other', 'app1'] }))), 'one matching aud in an array')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: 'https://c.example', aud: 'app1' }))), 'wrong_issuer')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: 'https://a.example/', aud: 'app1' }))), 'wrong_issuer', 'trailing slash')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: 'https://a.example, https://b.example', aud: 'app1' }))), 'wrong_issuer', 'the list itself')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: 'https://a.example', aud: 'app3' }))), 'wrong_audience')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: 'https://a.example', aud: 'app1,app2' }))), 'wrong_audience', 'comma list as one aud')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: 'https://a.example', aud: [] }))), 'wrong_audience', 'empty aud array')
  // fast-jwt skips allowedAud/allowedIss when the claim is absent: the broker requires them.
  t.equal((await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: 'https://a.example' }))), 'missing_claim', 'missing aud')).detail, 'The token has no aud claim.')
  t.equal((await assertInvalid(t, h, h.auth.authenticate(sign(claims({ aud: 'app1' }))), 'missing_claim', 'missing iss')).detail, 'The token has no iss claim.')
  const open = await harness(t, { JWT_SECRET: SECRET })
  t.ok(await open.auth.authenticate(sign(claims())), 'without JWT_ISSUER/JWT_AUDIENCE neither claim is needed')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: ['https://a.example'], aud: 'app1' }))), 'bad_claim_type', 'iss array')
  await assertInvalid(t, h, h.auth.authenticate(sign(claims({ iss: 'https://a.example', aud: [1] }))), 'bad_claim_type', 'aud number')
})

t.test('size and shape: oversize, array payload, crit, JWE, garbage', async (t) => {
  const h = await harness(t, { JWT_SECRET: SECRET })
  const big = signJwt({ alg: 'HS256' }, claims({ pad: 'x'.repeat(9000) }), SECRET)
  await assertInvalid(t, h, h.auth.authenticate(bearer(big)), 'too_large')
  const justUnder = signJwt({ alg: 'HS256' }, claims({ pad: 'x'.repeat(5500) }), SECRET)
  t.ok(Buffer.byteLength(justUnder) < 8192)
  t.ok(await h.auth.authenticate(bearer(justUnder)), 'a large token under 8 KiB passes')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'HS256' }, [1, 2, 3], SECRET))), 'malformed', 'array payload')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'HS256' }, 'a string', SECRET))), 'malformed', 'string payload')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'HS256' }, 'null', SECRET))), 'malformed', 'null payload')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'HS256', crit: ['exp'] }, claims(), SECRET))), 'unsupported_crit', 'crit registered name')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'HS256', crit: ['b64'], b64: false }, claims(), SECRET))), 'unsupported_crit', 'crit b64')
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${b64url([1])}.${b64url(claims())}.sig`)), 'malformed', 'array header')
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${b64url('not json')}.${b64url(claims())}.sig`)), 'malformed', 'header not JSON')
  const token = signJwt({ alg: 'HS256' }, claims(), SECRET)
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${token}.extra.parts`)), 'malformed', 'five segments (JWE shape)')
  await assertInvalid(t, h, h.auth.authenticate(bearer('abc')), 'malformed', 'one segment')
  await assertInvalid(t, h, h.auth.authenticate(bearer(`${token.split('.')[0]}.${b64url('{"sub":')}.x`)), 'malformed', 'truncated payload JSON')
  await assertInvalid(t, h, h.auth.authenticate(bearer(token.replace('.', '=.'))), 'malformed', 'base64 padding')
})
