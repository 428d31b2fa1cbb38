import { readFileSync } from 'node:fs'
import t from 'tap'
import { ERRORS } from '../../src/errors.ts'
import { generateOpenApi, OPENAPI_PATH } from '../../scripts/openapi.ts'
import { brokerEnv, brokerFor, emulatorFor } from '../helpers/broker.ts'

t.test('docs/openapi.json is in sync with the route schemas (npm run openapi)', async (t) => {
  const committed = readFileSync(OPENAPI_PATH, 'utf8')
  t.equal(await generateOpenApi(), committed)
})

t.test('the spec describes every route, status and error code', async (t) => {
  const spec = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'))
  t.equal(spec.openapi, '3.1.0')
  t.same(Object.keys(spec.paths).sort(), ['/livez', '/readyz', '/v1/admin/revoke', '/v1/token', '/v1/webhooks/nexconn'])
  t.same(Object.keys(spec.paths['/v1/token'].post.responses).sort(), ['200', '400', '401', '403', '413', '415', '429', '500', '502', '503'])
  const text = JSON.stringify(spec)
  for (const code of Object.keys(ERRORS)) t.match(text, `\`${code}\``, `${code} is described`)
  t.same(spec.paths['/v1/token'].post.security, [{ appJwt: [] }])
  t.ok(spec.paths['/v1/token'].post.responses['401'].content['application/problem+json'], 'errors are problem+json')
})

t.test('GET /openapi.json and /docs; docs can be switched off', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))
  const spec = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(spec.statusCode, 200)
  t.equal(spec.json().info.title, 'chat-token-broker')
  const docs = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(docs.statusCode, 200)
  t.match(docs.headers['content-type'], /text\/html/)
  t.match(docs.headers['content-security-policy'], /script-src 'self'/, 'the docs UI sets a policy it can run under')

  const { app: off } = await brokerFor(t, brokerEnv(emulator, { DOCS_ENABLED: 'false' }))
  t.equal((await off.inject({ method: 'GET', url: '/docs' })).statusCode, 404)
  t.equal((await off.inject({ method: 'GET', url: '/openapi.json' })).statusCode, 200, 'the spec itself stays available')
})
