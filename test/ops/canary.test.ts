/**
 * The canary sweep: run the whole product — issue, hit, refresh, logout, revoke, every error
 * path, Redis down, Nexconn faults — with recognisable values for the App Secret, the JWTs and
 * their claims, then look for them in every log line (at trace level), every response and
 * /metrics. The only place a secret may appear is the token in a 200 body.
 */
import type { InjectOptions } from 'fastify'
import type { Redis } from 'ioredis'
import t from 'tap'
import { sign } from '../../src/emulator/signature.ts'
import { brokerEnv, brokerFor, emulatorFor, ISSUE, jwtFor } from '../helpers/broker.ts'
import { redisClient, startRedis } from '../helpers/redis.ts'
import { activationEvent, webhookUrl } from '../webhooks/helpers.ts'

const SECRET = 'CanarySecretQ7x9Zp2Lm4Rt8'
const NAME = 'Canary Name Vb3Kd9'
const EMAIL = 'canary.claim.h4j8@example.com'
const ADMIN_KEY = 'CanaryAdminKey'.padEnd(40, 'k')

t.test('no secret, token, JWT or claim leaks into logs, error bodies, metrics or Redis', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t, { appSecret: SECRET })
  const { app, logs } = await brokerFor(t, brokerEnv(emulator, {
    REDIS_URL: redis.url,
    LOG_LEVEL: 'trace',
    ADMIN_API_KEY: ADMIN_KEY,
    NEXCONN_TIMEOUT_MS: '400',
    NEXCONN_DEADLINE_MS: '1500',
    WEBHOOK_ENABLED: 'true',
    NEXCONN_USER_DISABLED_CODES: '20700'
  }))
  const claims = { name: NAME, email: EMAIL, picture: `https://cdn.example.com/${EMAIL}.png` }
  const jwts: string[] = []
  const jwt = (sub: string, extra: Record<string, unknown> = {}): string => {
    const value = jwtFor(sub, { ...claims, ...extra })
    jwts.push(value)
    return value
  }
  const tokens = new Set<string>()
  const otherBodies: string[] = []
  const headerValues: string[] = []
  const call = async (options: InjectOptions): Promise<void> => {
    const res = await app.inject(options)
    headerValues.push(...Object.entries(res.headers).filter(([name]) => name !== 'set-cookie').map(([, v]) => String(v)))
    if (res.statusCode === 200 && res.json().token !== undefined) {
      const { token, ...rest } = res.json()
      tokens.add(token)
      otherBodies.push(JSON.stringify(rest))
    } else {
      otherBodies.push(res.body)
    }
  }
  const post = async (authorization: string | undefined, payload?: object): Promise<void> => {
    await call({ method: 'POST', url: '/v1/token', headers: authorization === undefined ? {} : { authorization }, ...(payload === undefined ? {} : { payload }) })
  }

  // The happy paths.
  await post(`Bearer ${jwt('canaryuser1')}`)
  await post(`Bearer ${jwt('canaryuser1')}`)
  await post(`Bearer ${jwt('canaryuser1')}`, { forceRefresh: true })
  await call({ method: 'DELETE', url: '/v1/token', headers: { authorization: `Bearer ${jwt('canaryuser1')}` } })
  await post(`Bearer ${jwt('canaryuser1')}`)
  await call({ method: 'DELETE', url: '/v1/token?revoke=true', headers: { authorization: `Bearer ${jwt('canaryuser1')}` } })
  await call({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { userIds: ['canaryuser1'] } })

  // Every way a request can be refused.
  await post(undefined)
  await post(`Basic ${Buffer.from(`${EMAIL}:${SECRET}`).toString('base64')}`)
  await post(`Bearer ${jwt('canaryuser2', { exp: Math.floor(Date.now() / 1000) - 60 })}`)
  await post(`Bearer ${jwt('canaryuser2', { nbf: Math.floor(Date.now() / 1000) + 3600 })}`)
  await post(`Bearer ${jwt('canary|user3')}`)
  await post(`Bearer ${jwt('canaryuser2').slice(0, -3)}abc`)
  await post(`Bearer ${jwt('canaryuser2')}`, { forceRefresh: EMAIL })
  await call({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${SECRET}` }, payload: { userIds: ['x'] } })
  await call({ method: 'GET', url: `/v1/unknown?token=${jwt('canaryuser2')}` })

  // Nexconn failing in every way it can.
  for (const fault of [{ kind: 'business_error', code: 1004 }, { kind: 'business_error', code: 1002 }, { kind: 'status', status: 500 }, { kind: 'malformed' }, { kind: 'wrong_user' }, { kind: 'hang' }, { kind: 'drip', ms: 200 }, { kind: 'rate_limit' }] as const) {
    emulator.addFault({ ...fault, endpoint: ISSUE })
    await post(`Bearer ${jwt(`canaryfault${fault.kind.replace('_', '')}`)}`)
    emulator.clearFaults()
  }

  // Answers about one user: an unknown code (5xx and 4xx), a listed one, a soft-deleted user.
  for (const [code, status] of [[20701, 500], [20702, 403], [20700, 403]] as const) {
    emulator.addFault({ kind: 'business_error', code, status, endpoint: ISSUE })
    await post(`Bearer ${jwt(`canarycode${code}`)}`)
    emulator.clearFaults()
  }
  emulator.softDelete(['canarydeleted1'])
  await post(`Bearer ${jwt('canarydeleted1')}`)

  // Webhooks: a genuine call, its replay with another body, a stale one, a bad signature.
  const webhookNonce = 'CanaryNonce88a1'
  const webhookTimestamp = String(Date.now())
  const webhookSignature = sign(SECRET, webhookNonce, webhookTimestamp)
  const signedUrl = webhookUrl({ secret: SECRET, appKey: emulator.appKey, nonce: webhookNonce, timestamp: webhookTimestamp })
  for (const [url, event] of [
    [signedUrl, activationEvent([{ userId: 'canaryuser1', operationType: 0 }], 'CanaryEvent1')],
    [signedUrl, activationEvent([{ userId: 'canaryuser2', operationType: 0 }], 'CanaryEvent2')],
    [webhookUrl({ secret: SECRET, nonce: webhookNonce, timestamp: '1408710653000' }), activationEvent([], 'CanaryEvent3')],
    [webhookUrl({ secret: 'wrong', nonce: webhookNonce }), activationEvent([], 'CanaryEvent4')]
  ] as const) {
    await call({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(event) })
  }

  // Redis gone.
  await redis.stop()
  await post(`Bearer ${jwt('canaryuser4')}`)
  await post(`Bearer ${jwt('canaryuser4')}`)
  await redis.start()

  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.ok(tokens.size >= 4, `${tokens.size} tokens were issued during the sweep`)
  t.ok(logs.lines.length > 50, `${logs.lines.length} log lines captured`)

  const canaries = [SECRET, NAME, EMAIL, ADMIN_KEY, webhookNonce, webhookSignature, 'CanaryEvent', ...jwts, ...jwts.map((j) => j.split('.')[2] ?? ''), ...jwts.map((j) => j.split('.')[1] ?? ''), ...tokens]
  const places = { logs: logs.text, metrics, 'response bodies': otherBodies.join('\n'), 'response headers': headerValues.join('\n') }
  for (const [place, text] of Object.entries(places)) {
    const leaked = canaries.filter((canary) => canary !== '' && text.includes(canary))
    t.same(leaked.map((c) => c.slice(0, 12)), [], `nothing leaked into ${place}`)
  }
  t.match(logs.text, /"reason":"replayed"/, 'the replay was refused')
  t.match(logs.text, /business code the broker does not know/, 'the unknown codes were reached')
  for (const user of ['canaryuser1', 'canaryuser2', 'canaryuser4', 'canary|user3', 'canarydeleted1', 'canarycode20701']) {
    t.notOk(logs.text.includes(user), `user id ${user} is not logged`)
    t.notOk(metrics.includes(user), `user id ${user} is not a metric label`)
  }

  const client: Redis = redisClient(t, redis.url)
  const keys = await client.keys('*')
  const values = await Promise.all(keys.map(async (k) => (await client.type(k)) === 'string' ? await client.get(k) : ''))
  const stored = [...keys, ...values].join('\n')
  t.same(canaries.filter((c) => c !== '' && stored.includes(c)).map((c) => c.slice(0, 12)), [], 'nothing readable in Redis')
  t.notOk(stored.includes('canaryuser'), 'no user id in Redis')
})
