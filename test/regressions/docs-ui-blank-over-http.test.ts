/**
 * Regression: /docs was a blank page over plain HTTP on any address but localhost. The UI's
 * Content-Security-Policy carried `upgrade-insecure-requests`, so the browser asked for its own
 * scripts over https, which the broker does not serve. Also: the UI asked validator.swagger.io
 * to validate the API description (sending its URL to a third party), and NODE_ENV=production
 * (the image) now keeps the UI off unless DOCS_ENABLED=true. The container test renders the page
 * in headless Chromium under a non-local host name.
 */
import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { baseEnv } from '../helpers/env.ts'
import { brokerEnv, brokerFor, emulatorFor } from '../helpers/broker.ts'

t.test('the docs UI\'s policy lets a browser load it over http', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { DOCS_ENABLED: 'true' }))
  for (const url of ['/docs', '/docs/static/swagger-initializer.js']) {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.statusCode, 200, url)
    const csp = String(response.headers['content-security-policy'])
    t.match(csp, /script-src 'self'/, `${url}: a policy the UI runs under`)
    t.notMatch(csp, /upgrade-insecure-requests/, `${url}: no upgrade-insecure-requests`)
  }
  const initializer = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
  t.match(initializer.body, /"validatorUrl":\s*null|validatorUrl:\s*null/, 'no validator.swagger.io badge')
})

t.test('NODE_ENV=production turns the docs UI off unless DOCS_ENABLED=true', async (t) => {
  t.equal(loadConfig(baseEnv()).server.docsEnabled, true, 'on by default outside production')
  t.equal(loadConfig(baseEnv({ NODE_ENV: 'production' })).server.docsEnabled, false, 'off with NODE_ENV=production')
  t.equal(loadConfig(baseEnv({ NODE_ENV: 'production', DOCS_ENABLED: 'true' })).server.docsEnabled, true, 'DOCS_ENABLED=true wins')
  t.equal(loadConfig(baseEnv({ DOCS_ENABLED: 'false' })).server.docsEnabled, false, 'DOCS_ENABLED=false wins')

  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { NODE_ENV: 'production' }))
  t.equal((await app.inject({ method: 'GET', url: '/docs' })).statusCode, 404, '/docs is a 404 in production by default')
  t.equal((await app.inject({ method: 'GET', url: '/openapi.json' })).statusCode, 200, 'the description itself stays available')
})
