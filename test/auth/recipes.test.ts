/**
 * The identity-provider recipes of docs/authentication.md, run as written: each recipe's settings
 * and sample claims are read from the document; a local server stands in for the provider's hosts
 * (every https origin in the recipe becomes this server, path kept) and serves its key set and
 * discovery document; a token with the sample claims, signed by that key, must get a chat token
 * for the user id the recipe names.
 */
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { hashUserId } from '../../src/auth/index.ts'
import { getClaim } from '../../src/auth/identity.ts'
import { brokerEnv, brokerFor, emulatorFor } from '../helpers/broker.ts'
import { JwksServer } from './helpers/jwks-server.ts'
import { nowS, publicJwk, signJwt, type Alg } from './helpers/tokens.ts'

interface Recipe {
  name: string
  env: Record<string, string>
  claims: Record<string, unknown>
  expected: { literal: string } | { hashOf: string }
}

const DOC = readFileSync(new URL('../../docs/authentication.md', import.meta.url), 'utf8')

function recipes (): Recipe[] {
  const section = DOC.slice(DOC.indexOf('## Recipes per identity provider'), DOC.indexOf('### Your own tokens'))
  return section.split(/^### /m).slice(1).map((block) => {
    const name = block.slice(0, block.indexOf('\n')).trim()
    const sh = /```sh\n([\s\S]*?)```/.exec(block)?.[1] ?? ''
    const json = /```json\n([\s\S]*?)```/.exec(block)?.[1] ?? '{}'
    const env = Object.fromEntries(sh.split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]))
    const idLine = /^Nexconn user id: (.*)$/m.exec(block)?.[1] ?? ''
    const last = [...idLine.matchAll(/`([^`]+)`/g)].at(-1)?.[1] ?? ''
    return { name, env, claims: JSON.parse(json) as Record<string, unknown>, expected: idLine.startsWith('SHA-256') ? { hashOf: last } : { literal: last } }
  })
}

/** Every https origin named in the recipe, pointed at the local server (paths kept). */
function localised<T> (value: T, origin: string): T {
  return JSON.parse(JSON.stringify(value).replace(/https:\/\/[a-z0-9.-]+\.[a-z]+/g, origin)) as T
}

const found = recipes()
t.same(found.map((r) => r.name), ['Auth0', 'AWS Cognito', 'Firebase Authentication', 'Keycloak', 'Microsoft Entra ID', 'Supabase', 'Clerk'], 'every recipe is found in the document')

for (const recipe of found) {
  t.test(`recipe: ${recipe.name}`, async (t) => {
    t.ok(Object.keys(recipe.env).length >= 3, 'the recipe has settings')
    t.ok(typeof recipe.claims.iss === 'string', 'and a sample token')
    const alg = (recipe.env.JWT_ALGORITHMS ?? 'RS256') as Alg
    const keys = alg.startsWith('ES') ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })
    const server = await JwksServer.start([publicJwk(keys.publicKey, { kid: 'recipe-key', alg, use: 'sig' }), { kty: 'RSA', use: 'enc', kid: 'enc-key', n: 'AQAB', e: 'AQAB' }])
    t.teardown(() => server.close())
    const env = localised(recipe.env, server.origin)
    const claims = localised(recipe.claims, server.origin)
    if (env.JWT_OIDC_ISSUER !== undefined) server.discovery = { issuer: env.JWT_OIDC_ISSUER, jwks_uri: server.url }

    const emulator = await emulatorFor(t)
    const { app } = await brokerFor(t, brokerEnv(emulator, { JWT_SECRET: undefined, ...env }))
    const token = signJwt({ alg, kid: 'recipe-key', typ: 'JWT' }, { ...claims, iat: nowS(), exp: nowS() + 600 }, keys.privateKey)
    const res = await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200, res.body)
    const expected = 'literal' in recipe.expected ? recipe.expected.literal : hashUserId(String(claims.iss), recipe.expected.hashOf)
    t.equal(res.json().userId, expected, 'the user id the recipe names')
    t.equal(emulator.user(expected)?.name, getClaim(claims, env.JWT_NAME_CLAIM ?? 'name'), 'the display name from the recipe\'s name claim')
    if (env.JWT_AVATAR_CLAIM !== undefined) t.equal(emulator.user(expected)?.avatarUrl, getClaim(claims, env.JWT_AVATAR_CLAIM), 'and the avatar')

    const forged = signJwt({ alg, kid: 'recipe-key' }, { ...claims, iss: `${String(claims.iss)}x`, iat: nowS(), exp: nowS() + 600 }, keys.privateKey)
    t.equal((await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${forged}` } })).statusCode, 401, 'another issuer is refused')
  })
}
