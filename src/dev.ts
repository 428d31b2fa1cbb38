/**
 * Local mode (`npm run dev`): no account, no configuration. Starts the embedded Nexconn
 * emulator with a random App Key and Secret, generates a development JWT secret, runs the
 * broker with the in-memory cache, and prints a sample JWT and a curl to try it.
 *
 * Anything set in the environment still wins (e.g. REDIS_URL to try Redis locally, or
 * NEXCONN_API_URLS to point at another emulator); only what is missing is filled in.
 */
import { randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { startEmulator } from './emulator/index.ts'
import { configOrExit, startServer } from './server.ts'

const SAMPLE_USER = { sub: 'devuser1', name: 'Dev User' }

const env: Record<string, string | undefined> = { ...process.env }
const emulator = env.NEXCONN_API_URLS === undefined ? await startEmulator({ host: '127.0.0.1', ports: [0, 0], strict: true }) : undefined
if (emulator !== undefined) {
  env.NEXCONN_API_URLS = emulator.urls.join(',')
  env.NEXCONN_APP_KEY = emulator.appKey
  env.NEXCONN_APP_SECRET = emulator.appSecret
}
const generatedSecret = env.JWT_SECRET === undefined && env.JWT_SECRET_FILE === undefined && env.JWT_PUBLIC_KEY === undefined && env.JWT_JWKS_URL === undefined
if (generatedSecret) env.JWT_SECRET = randomBytes(32).toString('base64url')
env.LOG_LEVEL ??= 'info'

const config = configOrExit(env, 'local')

await startServer(config, {
  pretty: true,
  onClose: async () => { await emulator?.close() },
  onListening: (address) => {
    const port = new URL(address).port
    const lines = [
      '',
      '  chat-token-broker — LOCAL MODE (not for production)',
      '',
      emulator === undefined
        ? `  Nexconn API:  ${config.nexconn.apiUrls.join(', ')}`
        : `  Nexconn API:  embedded emulator at ${emulator.urls.join(' (primary), ')} (backup); stats at ${emulator.urls[0] ?? ''}/_emulator/stats`,
      `  Token cache:  ${config.redis === undefined ? 'in memory (single instance)' : `Redis (${config.redis.mode})`}`
    ]
    if (generatedSecret) {
      const signer = createSigner({ key: env.JWT_SECRET ?? '', algorithm: 'HS256', expiresIn: 3_600_000 })
      const jwt = signer({ ...SAMPLE_USER })
      lines.push(
        '  JWTs:         HS256 with a secret generated for this run',
        '',
        '  A sample JWT for user "devuser1", valid for one hour:',
        '',
        `  ${jwt}`,
        '',
        '  Try it:',
        '',
        `  curl -s -X POST http://localhost:${port}/v1/token -H "Authorization: Bearer ${jwt}"`,
        ''
      )
    } else {
      lines.push('  JWTs:         verified with the JWT_* settings from your environment', '')
    }
    process.stdout.write(lines.join('\n') + '\n')
  }
})
