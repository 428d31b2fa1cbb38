/**
 * The client's types come from the broker's OpenAPI spec. These tests fail when the generated
 * file drifts from docs/openapi.json, and show that a change in the API breaks the client's
 * build (not its users) once the types are regenerated.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { generateApi, GENERATED_PATH, OPENAPI_PATH } from '../../client/scripts/generate-api.ts'
import { TOKEN_ERRORS } from '../../client/src/api.generated.ts'
import { TokenProviderError } from '../../client/src/errors.ts'
import { actionFor } from '../../client/src/policy.ts'
import { ERRORS } from '../../src/errors.ts'
import { ROOT, tsc } from './helpers.ts'
const spec = readFileSync(OPENAPI_PATH, 'utf8')

t.test('client/src/api.generated.ts is in sync with docs/openapi.json (npm run client:api)', async (t) => {
  t.equal(readFileSync(GENERATED_PATH, 'utf8'), generateApi(spec))
})

t.test('the generated codes are the broker\'s error catalogue', async (t) => {
  const generated = new Set<string>(Object.values(TOKEN_ERRORS).flat())
  for (const [code, { status }] of Object.entries(ERRORS)) {
    if (code === 'not_found') continue // no route answers it: it is the unknown route's
    t.ok(generated.has(code), `${code} is a documented answer of POST /v1/token`)
    t.ok((TOKEN_ERRORS as Record<number, readonly string[]>)[status]?.includes(code), `${code} under ${status}`)
  }
})

t.test('the retry rules of issue 17, checked against the spec\'s statuses', async (t) => {
  const actions = (status: keyof typeof TOKEN_ERRORS): string[] => TOKEN_ERRORS[status].map((code) => actionFor(new TokenProviderError(code, '', { status })))
  t.same(new Set(actions(401)), new Set(['reauthenticate']), '401: a fresh app JWT, then sign-in')
  t.same(new Set(actions(429)), new Set(['back_off']), '429: backoff')
  t.same(new Set(actions(503)), new Set(['back_off']), '503: backoff')
  t.same(actions(502), ['fail'], '502 upstream_rejected: no retry')
  t.same(actions(400), ['fail'])
})

/** Type-checks a copy of the client whose generated API comes from `mutate(spec)`; returns the compiler's errors. */
async function typecheckWith (t: { teardown: (fn: () => void) => void }, mutate: (spec: Record<string, any>) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ctb-client-api-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  for (const entry of ['src', 'tsconfig.json', 'package.json']) cpSync(join(ROOT, 'client', entry), join(dir, entry), { recursive: true })
  const changed = JSON.parse(spec) as Record<string, any>
  mutate(changed)
  writeFileSync(join(dir, 'src', 'api.generated.ts'), generateApi(JSON.stringify(changed)))
  const result = await tsc(['--noEmit', '-p', join(dir, 'tsconfig.json')])
  if (!result.ok && !/error TS\d+/.test(result.output)) throw new Error(`tsc did not run:\n${result.output}`)
  return result.ok ? '' : result.output
}

t.test('a change in the API breaks the client\'s build', async (t) => {
  t.equal(await typecheckWith(t, () => {}), '', 'control: the client type-checks against the spec as it is')

  const newCode = await typecheckWith(t, (s) => {
    s.components.schemas.Problem.properties.code.enum.push('quota_exceeded')
    s.paths['/v1/token'].post.responses['429'].description += '; `quota_exceeded`: Quota exceeded'
  })
  t.match(newCode, /policy\.ts.*quota_exceeded/s, 'a new error code: the client must decide how to treat it')

  const renamed = await typecheckWith(t, (s) => {
    const properties = s.components.schemas.TokenResponse.properties
    properties.expiresOn = properties.expiresAt
    delete properties.expiresAt
    s.components.schemas.TokenResponse.required = ['userId', 'token', 'appKey', 'issuedAt', 'expiresOn']
  })
  t.match(renamed, /provider\.ts.*expiresAt/s, 'a renamed field: the code that reads it no longer compiles')
})
