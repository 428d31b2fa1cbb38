/**
 * Local mode (`npm run dev`): no account, no configuration. Starts the embedded Nexconn
 * emulator with a random App Key and Secret, generates a development JWT secret and admin key,
 * turns webhooks on, runs the broker with the in-memory cache on 127.0.0.1, and prints what is
 * needed to try every route: the generated settings and one command per route.
 *
 * Anything set in the environment wins (README, Quickstart): HOST=0.0.0.0 to share it, REDIS_URL
 * to try Redis, NEXCONN_API_URLS (with the App Key and Secret) for another emulator, JWT_* for
 * your own identity provider. Only what is missing is filled in, and only generated values are
 * printed, never a secret that came from the environment.
 */
import { randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { startEmulator } from './emulator/index.ts'
import { configOrExit, startServer } from './server.ts'

const SAMPLE_USER = { sub: 'devuser1', name: 'Dev User' }

const env: Record<string, string | undefined> = { ...process.env }
const generated: Record<string, string> = {}
function fill (name: string, value: () => string): void {
  if (env[name] !== undefined || env[`${name}_FILE`] !== undefined) return
  env[name] = value()
  generated[name] = env[name]
}

// Strict signing, as every broker test runs it: a signing regression shows up here too.
const emulator = env.NEXCONN_API_URLS === undefined ? await startEmulator({ host: '127.0.0.1', ports: [0, 0], strict: true }) : undefined
if (emulator !== undefined) {
  env.NEXCONN_API_URLS = emulator.urls.join(',')
  generated.NEXCONN_APP_KEY = env.NEXCONN_APP_KEY = emulator.appKey
  generated.NEXCONN_APP_SECRET = env.NEXCONN_APP_SECRET = emulator.appSecret
}
// Local mode is for one person's machine: loopback only unless HOST says otherwise.
env.HOST ??= '127.0.0.1'
const ownJwtSettings = ['JWT_SECRET', 'JWT_SECRET_FILE', 'JWT_PUBLIC_KEY', 'JWT_PUBLIC_KEY_FILE', 'JWT_JWKS_URL'].some((name) => env[name] !== undefined)
if (!ownJwtSettings) fill('JWT_SECRET', () => randomBytes(32).toString('base64url'))
fill('ADMIN_API_KEY', () => randomBytes(32).toString('base64url'))
env.WEBHOOK_ENABLED ??= 'true'
env.LOG_LEVEL ??= 'info'

const config = configOrExit(env, 'local')

/** The banner: generated settings, then one command per route. */
function banner (base: string): string {
  const lines = [
    '',
    '  chat-token-broker — LOCAL MODE (not for production)',
    '',
    `  Broker:       ${base}${config.server.host === '127.0.0.1' ? ' (this machine only; HOST=0.0.0.0 to share it)' : ''}`,
    emulator === undefined
      ? `  Nexconn API:  ${config.nexconn.apiUrls.join(', ')}`
      : `  Nexconn API:  embedded emulator at ${emulator.urls.join(' (primary), ')} (backup); stats at ${emulator.urls[0] ?? ''}/_emulator/stats`,
    `  Token cache:  ${config.redis === undefined ? 'in memory (single instance)' : `Redis (${config.redis.mode})`}`,
    `  JWTs:         ${generated.JWT_SECRET === undefined ? 'verified with the JWT_* settings from your environment' : 'HS256 with the JWT_SECRET generated for this run'}`,
    `  API docs:     ${config.server.docsEnabled ? `${base}/docs (UI), ` : ''}${base}/openapi.json; metrics at ${config.server.metricsPort === undefined ? `${base}/metrics` : `port ${config.server.metricsPort}`}`,
    ''
  ]
  const exports = Object.entries(generated).map(([name, value]) => `  export ${name}=${value}`)
  if (exports.length > 0) lines.push('  Generated for this run (set them yourself to keep them; the environment always wins):', '', ...exports, '')
  lines.push('  Try every route from another shell, after the exports above:', '')
  if (generated.JWT_SECRET !== undefined) {
    lines.push('  JWT=$(npm run -s token -- --sub alice)     # a JWT for user "alice", valid for one hour')
  } else {
    lines.push('  JWT=<a JWT from your identity provider>')
  }
  lines.push(
    `  curl -s -X POST ${base}/v1/token -H "Authorization: Bearer $JWT"`,
    `  curl -s -X DELETE "${base}/v1/token?revoke=true" -H "Authorization: Bearer $JWT" -w '%{http_code}\\n'`
  )
  if (config.adminApiKey !== undefined) {
    lines.push(`  curl -s -X POST ${base}/v1/admin/revoke -H "Authorization: Bearer $ADMIN_API_KEY" -H 'Content-Type: application/json' -d '{"userIds":["alice"]}'`)
  }
  if (config.ops.webhook.enabled) {
    lines.push(`  curl -s -X POST "$(npm run -s token -- --webhook --url ${base})" -H 'Content-Type: application/json' -d '{"type":"user:activation_state","id":"evt-1","time":0,"data":[{"userId":"alice","operationType":0}]}'`)
  }
  lines.push(`  curl -s ${base}/readyz`, '')
  if (generated.JWT_SECRET !== undefined) {
    const jwt = createSigner({ key: generated.JWT_SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })({ ...SAMPLE_USER })
    lines.push('  Or at once, with a sample JWT for user "devuser1" (valid for one hour):', '', `  curl -s -X POST ${base}/v1/token -H "Authorization: Bearer ${jwt}"`, '')
  }
  return lines.join('\n') + '\n'
}

await startServer(config, {
  pretty: true,
  onClose: async () => { await emulator?.close() },
  onListening: (address) => {
    const port = new URL(address).port
    const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host
    process.stdout.write(banner(`http://${host.includes(':') ? `[${host}]` : host}:${port}`))
  }
})
