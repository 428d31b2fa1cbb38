/**
 * Several issuers at once (JWT_ISSUERS_FILE), OIDC discovery, Cognito-style client ids and
 * token_use, and claims named as identity providers name them: each against a real JWKS and
 * discovery server on loopback.
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { hashUserId } from '../../src/auth/index.ts'
import { assertInvalid, harness, rejection } from './helpers/auth.ts'
import { JwksServer, waitFor } from './helpers/jwks-server.ts'
import { bearer, claims, ecKeys, pem, publicJwk, rsaKeys, signJwt } from './helpers/tokens.ts'

const HMAC = 'an-app-server-secret-of-forty-bytes-0123'
const partner = rsaKeys()
const idp = rsaKeys()

async function fileWith (text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ctb-issuers-'))
  const path = join(dir, 'issuers.yaml')
  await writeFile(path, text)
  return path
}

async function discoveryServer (t: Test, keys: unknown[] = [publicJwk(idp.publicKey, { kid: 'idp1', alg: 'RS256' })]): Promise<JwksServer> {
  const server = await JwksServer.start(keys)
  server.discovery = { issuer: server.origin, jwks_uri: server.url, id_token_signing_alg_values_supported: ['RS256'] }
  t.teardown(() => server.close())
  return server
}

t.test('three issuers from one file: a secret, a PEM key and OIDC discovery; each token verified by its own', async (t) => {
  const server = await discoveryServer(t)
  const file = await fileWith([
    '- issuer: app-server',
    `  secret: ${HMAC}`,
    '  userIdPrefix: app',
    '- issuer: partner',
    '  publicKey: |',
    ...pem(partner.publicKey).trim().split('\n').map((line) => `    ${line}`),
    '  userIdClaim: partner_uid',
    `- issuer: ${server.origin}`,
    '  discovery: true',
    '  audiences: [chat]',
    '  userIdMode: hash'
  ].join('\n'))
  const h = await harness(t, { JWT_ISSUERS_FILE: file })
  await h.auth.start()
  t.same(h.auth.providerStates(), [{ label: 'app-server', ready: true }, { label: 'partner', ready: true }, { label: server.origin, ready: true }])

  const app = await h.auth.authenticate(bearer(signJwt({ alg: 'HS256' }, claims({ iss: 'app-server', sub: 'alice' }), HMAC)))
  t.equal(app.userId, 'appalice', 'the prefix keeps this issuer\'s users apart')
  const fromPartner = await h.auth.authenticate(bearer(signJwt({ alg: 'RS256' }, claims({ iss: 'partner', sub: 'ignored', partner_uid: 'bob7' }), partner.privateKey)))
  t.equal(fromPartner.userId, 'bob7', 'this issuer\'s own user id claim')
  const fromIdp = await h.auth.authenticate(bearer(signJwt({ alg: 'RS256', kid: 'idp1' }, claims({ iss: server.origin, aud: 'chat', sub: 'auth0|carol' }), idp.privateKey)))
  t.equal(fromIdp.userId, hashUserId(server.origin, 'auth0|carol'))
  t.equal(server.discoveryHits, 1, 'the discovery document was read once at start')

  // Cross-issuer forgery: the token names one issuer and is signed with another's key.
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'RS256' }, claims({ iss: 'app-server', sub: 'mallory' }), partner.privateKey))), 'alg_not_allowed', 'app-server takes HS256 only')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'RS256' }, claims({ iss: 'partner', partner_uid: 'mallory' }), idp.privateKey))), 'bad_signature', 'partner\'s key, not the IdP\'s')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'RS256', kid: 'idp1' }, claims({ iss: server.origin, aud: 'chat' }), partner.privateKey))), 'bad_signature', 'the IdP\'s kid, partner\'s key')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'HS256' }, claims({ iss: 'partner', partner_uid: 'mallory' }), pem(partner.publicKey)))), 'alg_not_allowed', 'HMAC with a public key as the secret')

  const before = { jwks: server.hits, discovery: server.discoveryHits }
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'RS256', kid: 'other' }, claims({ iss: 'https://unknown.example.com/' }), idp.privateKey))), 'wrong_issuer', 'an unknown issuer')
  await assertInvalid(t, h, h.auth.authenticate(bearer(signJwt({ alg: 'HS256' }, claims({ sub: 'noiss' }), HMAC))), 'missing_claim', 'no issuer at all')
  t.same({ jwks: server.hits, discovery: server.discoveryHits }, before, 'no fetch for a token no issuer claims')
})

t.test('OIDC discovery: the document must name the configured issuer, and its jwks_uri is followed when it moves', async (t) => {
  const server = await discoveryServer(t)
  server.discovery = { issuer: 'https://impostor.example.com', jwks_uri: server.url }
  const h = await harness(t, { JWT_OIDC_ISSUER: server.origin, JWT_AUDIENCE: 'chat' })
  await h.auth.start()
  t.equal(h.auth.ready(), false, 'a document naming another issuer is not used')
  t.equal(server.hits, 0, 'its jwks_uri was never fetched')
  t.match(h.logs(), /names another issuer than the one configured/)
  const err = await rejection(h.auth.authenticate(bearer(signJwt({ alg: 'RS256', kid: 'idp1' }, claims({ iss: server.origin, aud: 'chat' }), idp.privateKey))))
  t.equal(err.code, 'keys_unavailable')

  // The IdP fixes its document and moves its keys: the next refresh follows both.
  const moved = await JwksServer.start([publicJwk(idp.publicKey, { kid: 'idp1' })])
  t.teardown(() => moved.close())
  server.discovery = { issuer: server.origin, jwks_uri: moved.url }
  const h2 = await harness(t, { JWT_OIDC_ISSUER: server.origin, JWT_AUDIENCE: 'chat' }, { refreshIntervalMs: 100, unloadedRetryMs: 50 })
  await h2.auth.start()
  t.ok(await waitFor(() => h2.auth.ready()), 'loaded from the new location')
  t.equal((await h2.auth.authenticate(bearer(signJwt({ alg: 'RS256', kid: 'idp1' }, claims({ iss: server.origin, aud: 'chat', sub: 'dave' }), idp.privateKey)))).userId, 'dave')
  t.ok(moved.hits >= 1 && server.hits === 0, 'the keys came from the moved jwks_uri')
  const reads = server.discoveryHits
  t.ok(await waitFor(() => server.discoveryHits > reads + 1), 'the document is read again on the JWKS schedule')

  server.discovery = { issuer: server.origin, jwks_uri: 'http://idp.example.com/keys' }
  const h3 = await harness(t, { JWT_OIDC_ISSUER: server.origin, JWT_AUDIENCE: 'chat' })
  await h3.auth.start()
  t.equal(h3.auth.ready(), false, 'a plain-http jwks_uri on a public host is refused')
  t.match(h3.logs(), /jwks_uri must be an https:\/\/ URL/)
})

t.test('Cognito: access tokens by client_id, ID tokens by aud, token_use checked', async (t) => {
  const server = await discoveryServer(t)
  const iss = server.origin
  const sign = (extra: Record<string, unknown>): string => bearer(signJwt({ alg: 'RS256', kid: 'idp1' }, claims({ iss, sub: '5f3c9a2e-1111-4c1e-9d2b-0e6b7f1a2b3c', 'cognito:username': 'erin42', ...extra }), idp.privateKey))
  const both = await harness(t, { JWT_OIDC_ISSUER: iss, JWT_CLIENT_IDS: 'client1', JWT_TOKEN_USE: 'access,id', JWT_USER_ID_CLAIM: 'cognito:username' })
  await both.auth.start()
  t.equal((await both.auth.authenticate(sign({ client_id: 'client1', token_use: 'access', scope: 'openid' }))).userId, 'erin42', 'an access token: client_id, no aud')
  t.equal((await both.auth.authenticate(sign({ aud: 'client1', token_use: 'id' }))).userId, 'erin42', 'an ID token: aud is the client id')
  await assertInvalid(t, both, both.auth.authenticate(sign({ client_id: 'other', token_use: 'access' })), 'wrong_audience', 'another app client')
  await assertInvalid(t, both, both.auth.authenticate(sign({ token_use: 'access' })), 'missing_claim', 'neither client_id nor aud')
  await assertInvalid(t, both, both.auth.authenticate(sign({ client_id: 'client1' })), 'missing_claim', 'no token_use')
  await assertInvalid(t, both, both.auth.authenticate(sign({ client_id: 'client1', token_use: 'refresh' })), 'wrong_token_use')

  const accessOnly = await harness(t, { JWT_OIDC_ISSUER: iss, JWT_CLIENT_IDS: 'client1', JWT_TOKEN_USE: 'access', JWT_USER_ID_CLAIM: 'cognito:username' })
  await accessOnly.auth.start()
  await assertInvalid(t, accessOnly, accessOnly.auth.authenticate(sign({ aud: 'client1', token_use: 'id' })), 'wrong_token_use', 'an ID token where only access tokens are accepted')
})

t.test('claims as identity providers name them: namespaced keys and nested paths, for the id, name and avatar', async (t) => {
  const es = ecKeys('P-256')
  const h = await harness(t, {
    JWT_PUBLIC_KEY: pem(es.publicKey),
    JWT_USER_ID_CLAIM: 'https://myapp.example.com/uid',
    JWT_NAME_CLAIM: 'app_metadata.display_name',
    JWT_AVATAR_CLAIM: 'https://myapp.example.com/avatar'
  })
  const token = signJwt({ alg: 'ES256' }, claims({
    sub: 'auth0|6512',
    'https://myapp.example.com/uid': 'frank9',
    'https://myapp.example.com/avatar': 'https://cdn.example.com/f.png',
    app_metadata: { display_name: 'Frank \u202Eevil\u202C Nine' }
  }), es.privateKey)
  const identity = await h.auth.authenticate(bearer(token))
  t.equal(identity.userId, 'frank9')
  t.equal(identity.avatarUrl, 'https://cdn.example.com/f.png')
  t.equal(identity.name, 'Frank evil Nine', 'a bidi override cannot reorder the name a chat client shows')
})
