import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor, issueCalls } from '../helpers/broker.ts'
import { sign } from '../../src/emulator/signature.ts'
import { activationEvent, connectionEvent, postWebhook, webhookUrl } from './helpers.ts'

t.test('a validly signed event is acknowledged with 200 ok', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true' }))
  const res = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('alice1'))
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
  const noAppKey = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('alice1'), { appKey: undefined })
  t.equal(noAppKey.statusCode, 200, 'the appKey parameter is optional')
  const ts = String(Date.now())
  const upperHex = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('alice1'), { nonce: 'n2', timestamp: ts, signature: sign(emulator.appSecret, 'n2', ts).toUpperCase() })
  t.equal(upperHex.statusCode, 200, 'uppercase hex is accepted')
  const seconds = String(Math.floor(Date.now() / 1000))
  const inSeconds = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('alice1'), { nonce: 'n3', timestamp: seconds, signature: sign(emulator.appSecret, 'n3', seconds) })
  t.equal(inSeconds.statusCode, 200, 'a timestamp in seconds is accepted')
  const unknown = await postWebhook(app, emulator.appSecret, emulator.appKey, { type: 'group:created', id: 'evt-x', time: Date.now(), data: [{ anything: true }], extra: 1 })
  t.same(unknown.json(), { status: 'ok' }, 'unknown types and extra fields are acknowledged')
})

t.test('bad signatures, missing parameters and a foreign appKey: 401 invalid_token', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true' }))
  const event = connectionEvent('alice1')
  const cases: Array<[string, Parameters<typeof postWebhook>[4]]> = [
    ['wrong secret', { secret: 'not-the-secret' }],
    ['tampered signature', { signature: 'a'.repeat(40) }],
    ['signature not hex', { signature: 'z'.repeat(40) }],
    ['signature too short', { signature: 'abc' }],
    ['no signature', { omit: ['signature'] }],
    ['no nonce', { omit: ['nonce'] }],
    ['no timestamp', { omit: ['signTimestamp'] }],
    ['timestamp not a number', { timestamp: '12ab', signature: sign(emulator.appSecret, 'n', '12ab'), nonce: 'n' }],
    ['another app\'s appKey', { appKey: 'someoneelse' }]
  ]
  for (const [name, options] of cases) {
    const res = await postWebhook(app, emulator.appSecret, emulator.appKey, event, options)
    t.equal(res.statusCode, 401, name)
    t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', name)
    t.match(res.json(), { code: 'invalid_token', status: 401, detail: 'The webhook signature is invalid.' }, name)
  }
  const none = await app.inject({ method: 'POST', url: '/v1/webhooks/nexconn', payload: event })
  t.equal(none.statusCode, 401, 'no query string at all')
  const repeated = await app.inject({ method: 'POST', url: `${webhookUrl({ secret: emulator.appSecret })}&nonce=other`, payload: event })
  t.equal(repeated.statusCode, 401, 'a repeated parameter is ambiguous')
  const garbage = await app.inject({ method: 'POST', url: '/v1/webhooks/nexconn?signature=x', headers: { 'content-type': 'application/json' }, payload: '{not json' })
  t.equal(garbage.statusCode, 401, 'an unsigned call is refused before its body is parsed')
})

t.test('parameter names come from WEBHOOK_*_PARAM', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true', WEBHOOK_NONCE_PARAM: 'n', WEBHOOK_TIMESTAMP_PARAM: 'timestamp', WEBHOOK_SIGNATURE_PARAM: 'sig' }))
  const names = { nonce: 'n', timestamp: 'timestamp', signature: 'sig' }
  const ok = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('alice1'), { names })
  t.equal(ok.statusCode, 200, 'custom names accepted')
  const defaults = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('alice1'))
  t.equal(defaults.statusCode, 401, 'the default names are no longer read')
  const bad = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('alice1'), { names, secret: 'wrong' })
  t.equal(bad.statusCode, 401)
})

t.test('stale and future timestamps are refused, in milliseconds and in seconds', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true', WEBHOOK_MAX_AGE_S: '60' }))
  const event = connectionEvent('alice1')
  const now = Date.now()
  const seconds = (ms: number): string => String(Math.floor(ms / 1000))
  const cases: Array<[string, string, number]> = [
    ['fresh ms', String(now - 30_000), 200],
    ['fresh s', seconds(now - 30_000), 200],
    ['slightly ahead (clock skew) ms', String(now + 20_000), 200],
    ['stale ms', String(now - 61_000), 401],
    ['stale s', seconds(now - 62_000), 401],
    ['very old', '1408710653000', 401],
    ['ahead by more than clock skew, within maxAgeS', String(now + 45_000), 401],
    ['future ms', String(now + 61_000), 401],
    ['future s', seconds(now + 62_000), 401]
  ]
  for (const [name, timestamp, status] of cases) {
    const res = await postWebhook(app, emulator.appSecret, emulator.appKey, { ...event, id: name }, { timestamp, nonce: `n-${name.length}`, signature: sign(emulator.appSecret, `n-${name.length}`, timestamp) })
    t.equal(res.statusCode, status, name)
    if (status === 401) t.match(res.json(), { code: 'invalid_token', detail: /stale/ }, `${name}: the detail says stale`)
  }
})

t.test('malformed bodies from a signed caller: 400 invalid_request', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true' }))
  const valid = connectionEvent('alice1')
  const cases: Array<[string, unknown]> = [
    ['not JSON', '{"type": '],
    ['an array', '[]'],
    ['no type', { ...valid, type: undefined }],
    ['no id', { ...valid, id: undefined }],
    ['no time', { ...valid, time: undefined }],
    ['no data', { ...valid, data: undefined }],
    ['time as a string', { ...valid, time: '123' }],
    ['id too long', { ...valid, id: 'x'.repeat(129) }],
    ['data not an array', { ...valid, data: {} }],
    ['data items not objects', { ...valid, data: ['alice1'] }],
    ['too many items', { ...valid, data: Array.from({ length: 1001 }, () => ({})) }]
  ]
  for (const [name, payload] of cases) {
    const res = await postWebhook(app, emulator.appSecret, emulator.appKey, payload)
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().code, 'invalid_request', name)
  }
  const empty = await app.inject({ method: 'POST', url: webhookUrl({ secret: emulator.appSecret }), headers: { 'content-type': 'application/json' } })
  t.equal(empty.statusCode, 400, 'no body')
  const text = await app.inject({ method: 'POST', url: webhookUrl({ secret: emulator.appSecret }), headers: { 'content-type': 'text/plain' }, payload: JSON.stringify(valid) })
  t.equal(text.statusCode, 415, 'not JSON content')
  const big = { ...valid, data: Array.from({ length: 1000 }, () => ({ pad: 'x'.repeat(300) })) }
  const tooLarge = await postWebhook(app, emulator.appSecret, emulator.appKey, big)
  t.equal(tooLarge.statusCode, 413, 'over 256 KiB')
  const fits = await postWebhook(app, emulator.appSecret, emulator.appKey, { ...valid, data: Array.from({ length: 1000 }, () => ({ userId: 'u'.repeat(64), status: '1', os: 'Android', time: Date.now() })) })
  t.equal(fits.statusCode, 200, 'a full data array of 1,000 items fits')
})

t.test('a duplicate event id is acted on once (memory mode)', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true' }))
  const first = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('dana1') })).json()
  const event = activationEvent([{ userId: 'dana1', operationType: 0 }], 'evt-dup-1')
  const a = await postWebhook(app, emulator.appSecret, emulator.appKey, event)
  t.same(a.json(), { status: 'ok' })
  const second = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('dana1') })).json()
  t.not(second.token, first.token, 'the first delivery purged the token')
  const b = await postWebhook(app, emulator.appSecret, emulator.appKey, event)
  t.equal(b.statusCode, 200)
  t.same(b.json(), { status: 'duplicate' })
  const third = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('dana1') })).json()
  t.equal(third.token, second.token, 'the redelivery did not purge again')
  t.equal(issueCalls(emulator), 2)
})

t.test('soft delete purges the user\'s token; restore, other users and other events do not', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true' }))
  const get = async (sub: string): Promise<string> => (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer(sub) })).json().token
  const erin = await get('erin1')
  const fred = await get('fred1')
  const gina = await get('gina1')

  await postWebhook(app, emulator.appSecret, emulator.appKey, activationEvent([{ userId: 'erin1', operationType: 1 }]))
  await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('erin1'))
  t.equal(await get('erin1'), erin, 'restore and connection events purge nothing')
  t.equal(issueCalls(emulator), 3)

  // operationType as a number and as a string; several users in one event.
  const res = await postWebhook(app, emulator.appSecret, emulator.appKey, activationEvent([
    { userId: 'erin1', operationType: 0 }, { userId: 'fred1', operationType: '0' }, { userId: 'gina1', operationType: 1 },
    { userId: 'not valid!', operationType: 0 }, { operationType: 0 }
  ]))
  t.same(res.json(), { status: 'ok' })
  t.not(await get('erin1'), erin, 'erin got a new token')
  t.not(await get('fred1'), fred, 'fred got a new token')
  t.equal(await get('gina1'), gina, 'gina (restored) kept hers')
  t.equal(emulator.stats().callsByUser.erin1, 2)
  t.equal(emulator.stats().callsByUser.fred1, 2)
  t.equal(emulator.stats().callsByUser.gina1, 1)
})

t.test('the route does not exist unless WEBHOOK_ENABLED=true', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))
  const res = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('alice1'))
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'not_found')
  t.notMatch(res.json().detail, /signature|nonce/, 'the 404 detail does not echo the query')
})

t.test('logs carry the event type and count, never the user id, the query or the signature', async (t) => {
  const emulator = await emulatorFor(t)
  const { app, logs } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true', LOG_LEVEL: 'trace' }))
  const userId = 'Canaryuser7731'
  await app.inject({ method: 'POST', url: '/v1/token', headers: bearer(userId) })
  const nonce = 'nonce5512'
  const timestamp = String(Date.now())
  const signature = sign(emulator.appSecret, nonce, timestamp)
  const event = activationEvent([{ userId, operationType: 0 }], 'evt-canary-0001')
  const ok = await postWebhook(app, emulator.appSecret, emulator.appKey, event, { nonce, timestamp, signature })
  t.equal(ok.statusCode, 200)
  await postWebhook(app, emulator.appSecret, emulator.appKey, event, { nonce, timestamp, signature })
  await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent(userId), { nonce, timestamp, signature })
  await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent(userId), { nonce: 'nonce5513', timestamp, signature: sign(emulator.appSecret, 'nonce5513', timestamp) })
  await postWebhook(app, emulator.appSecret, emulator.appKey, { ...event, id: 'evt-canary-0002' }, { nonce, timestamp, signature: signature.replace(/^./, signature.startsWith('0') ? '1' : '0') })
  await postWebhook(app, emulator.appSecret, emulator.appKey, { ...event, data: 'oops' }, { nonce, timestamp, signature })

  const text = logs.text
  const webhookLines = logs.records().filter((r) => typeof r.msg === 'string' && r.msg.startsWith('webhook'))
  t.ok(webhookLines.some((r) => r.msg === 'webhook processed' && r.eventType === 'user:activation_state' && r.count === 1 && r.purged === 1))
  t.ok(webhookLines.some((r) => r.msg === 'webhook event ignored' && r.eventType === 'user:connection_status' && r.level === 20), 'ignored types at debug')
  t.ok(webhookLines.some((r) => r.msg === 'webhook refused' && r.reason === 'bad_signature'), 'the refusal reason is logged')
  t.ok(webhookLines.some((r) => r.msg === 'webhook refused' && r.reason === 'replayed'), 'a replay too')
  t.ok(text.includes('/v1/webhooks/nexconn'), 'the path is logged')
  // The JWT request logs the user id nowhere either; the webhook must not add it.
  t.notOk(text.includes(userId), 'no user id in the logs')
  t.notOk(text.includes(signature), 'no signature in the logs')
  t.notOk(text.includes(nonce), 'no nonce in the logs')
  t.notOk(text.includes('evt-canary'), 'no event id in the logs')
  t.notOk(text.includes(emulator.appSecret), 'no secret in the logs')
})
