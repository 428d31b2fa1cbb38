/**
 * `npm run token`: what a client needs to try the broker by hand.
 *
 *   npm run -s token -- --sub alice [--name "Alice"] [--ttl 3600]
 *       an HS256 JWT for user `alice`, signed with $JWT_SECRET (the secret `npm run dev` prints)
 *   npm run -s token -- --webhook [--url http://127.0.0.1:8080]
 *       a signed webhook URL (POST /v1/webhooks/nexconn) for $NEXCONN_APP_KEY / $NEXCONN_APP_SECRET,
 *       fresh for WEBHOOK_MAX_AGE_S, with the default parameter names
 *
 * Prints only the JWT or URL on stdout, so `JWT=$(npm run -s token -- --sub alice)` works.
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { sign } from '../src/emulator/index.ts'

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    name: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
    webhook: { type: 'boolean', default: false },
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

function fail (message: string): never {
  process.stderr.write(`${message}\nusage: npm run -s token -- --sub <user id> [--name <display name>] [--ttl <seconds>]\n       npm run -s token -- --webhook [--url <broker base URL>]\n`)
  process.exit(2)
}

if (values.help) fail('Prints a JWT for the broker, or a signed webhook URL.')

if (values.webhook) {
  const appKey = process.env.NEXCONN_APP_KEY
  const appSecret = process.env.NEXCONN_APP_SECRET
  if (appKey === undefined || appSecret === undefined) fail('--webhook needs NEXCONN_APP_KEY and NEXCONN_APP_SECRET in the environment (npm run dev prints them).')
  const nonce = randomBytes(9).toString('hex')
  const timestamp = String(Date.now())
  const query = new URLSearchParams({ appKey, nonce, signTimestamp: timestamp, signature: sign(appSecret, nonce, timestamp) })
  process.stdout.write(`${values.url.replace(/\/+$/, '')}/v1/webhooks/nexconn?${query.toString()}\n`)
} else {
  const secret = process.env.JWT_SECRET
  if (secret === undefined || secret === '') fail('JWT_SECRET is not set (npm run dev prints the one it generated).')
  if (values.sub === undefined || !/^[A-Za-z0-9]{1,64}$/.test(values.sub)) fail('--sub <user id>: letters and digits, at most 64.')
  const ttl = Number(values.ttl)
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400) fail('--ttl: whole seconds from 1 to 86400.')
  const jwt = createSigner({ key: secret, algorithm: 'HS256', expiresIn: ttl * 1000 })({ sub: values.sub, name: values.name ?? values.sub })
  process.stdout.write(`${jwt}\n`)
}
