/**
 * Regression: misspelt settings (`JWT_SECERT`, `NEXCON_REGION`) were ignored and the defaults
 * used, so the broker started as if they were not set. Now a variable with one of the broker's
 * prefixes, or a typo away from a setting, stops the start with a suggestion, and never shows
 * its value. Variables that other tools add (Kubernetes service links for a Service called
 * `redis`, NODE_ENV, HOME...) are left alone.
 */
import t from 'tap'
import { ConfigError, loadConfig, VARIABLES } from '../../src/config.ts'
import { editDistance, prefixesOf } from '../../src/config/unknown-variables.ts'
import { baseEnv } from '../helpers/env.ts'

function problems (env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env)
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

t.test('the prefixes come from VARIABLES', async (t) => {
  const prefixes = prefixesOf(VARIABLES)
  for (const prefix of ['NEXCONN_', 'JWT_', 'REDIS_', 'TOKEN_', 'WEBHOOK_', 'RATE_LIMIT_', 'SHUTDOWN_', 'CORS_', 'ADMIN_', 'METRICS_', 'DOCS_', 'TRUST_']) {
    t.ok(prefixes.includes(prefix), prefix)
  }
  for (const shared of ['LOG_', 'MAX_', 'USER_']) t.notOk(prefixes.includes(shared), `${shared} is too common to claim`)
  t.equal(editDistance('JWT_SECERT', 'JWT_SECRET'), 1, 'a swap of neighbours is one edit')
})

t.test('misspelt settings stop the start and name the likely setting, never the value', async (t) => {
  const cases: Array<[string, string]> = [
    ['JWT_SECERT', 'JWT_SECRET'],
    ['NEXCON_REGION', 'NEXCONN_REGION'],
    ['REDIS_SENTINEL', 'REDIS_SENTINELS'],
    ['TOKEN_ENCRYPTIONKEY', 'TOKEN_ENCRYPTION_KEY'],
    ['WEBHOOK_ENABLE', 'WEBHOOK_ENABLED'],
    ['LOG_LEVLE', 'LOG_LEVEL'],
    ['RATE_LIMIT_PER_MIN', 'RATE_LIMIT_PER_MINUTE'],
    ['JWT_SECRET_FLIE', 'JWT_SECRET_FILE']
  ]
  for (const [typo, meant] of cases) {
    const found = problems(baseEnv({ [typo]: 'the-value-must-not-show' }))
    t.equal(found.length, 1, `${typo}: one problem`)
    t.match(found[0], new RegExp(`^${typo} is not a setting of the broker: did you mean ${meant}\\?`), `${typo} → ${meant}`)
    t.notMatch(found.join('\n'), /the-value-must-not-show/, 'the value is never shown')
  }
  const unrelated = problems(baseEnv({ NEXCONN_SOMETHING_ELSE_ENTIRELY: 'x' }))
  t.match(unrelated[0], /^NEXCONN_SOMETHING_ELSE_ENTIRELY is not a setting of the broker: it is not one of the settings/, 'a prefix alone is enough')
})

t.test('variables that other software sets are accepted', async (t) => {
  const env = baseEnv({
    NODE_ENV: 'production',
    HOME: '/home/node',
    HOSTNAME: 'broker-7d9f',
    PATH: '/usr/bin',
    NODE_VERSION: '24.22.3',
    NODE_EXTRA_CA_CERTS: '/etc/ca.pem',
    KUBERNETES_SERVICE_HOST: '10.0.0.1',
    // A Service called `redis` in the namespace, with service links on.
    REDIS_SERVICE_HOST: '10.0.0.2',
    REDIS_SERVICE_PORT: '6379',
    REDIS_SERVICE_PORT_REDIS: '6379',
    REDIS_PORT: 'tcp://10.0.0.2:6379',
    REDIS_PORT_6379_TCP: 'tcp://10.0.0.2:6379',
    REDIS_PORT_6379_TCP_ADDR: '10.0.0.2',
    REDIS_PORT_6379_TCP_PORT: '6379',
    REDIS_PORT_6379_TCP_PROTO: 'tcp',
    JWT_SECRET_FILE: undefined,
    LOG_FORMAT: 'json',
    MAX_THREADS: '4',
    USER: 'node',
    npm_config_cache: '/tmp/npm',
    COMPOSE_PROFILES: 'app',
    BROKER_PUBLISH: '127.0.0.1:8080'
  })
  t.same(problems(env), [])
})
