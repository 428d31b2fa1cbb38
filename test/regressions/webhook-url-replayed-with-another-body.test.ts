/**
 * Regression: a webhook's signature covers only nonce and timestamp, and nonces were never
 * remembered. Anyone who saw one callback URL (a proxy log, a browser history) could post any body
 * with a new event id for ten minutes, each call purging up to 1,000 users' cached tokens (which
 * then burn Nexconn quota); a timestamp with a leading zero gave a second valid parameter pair
 * under the same signature; timestamps up to 5 minutes in the future were accepted.
 */
import t from 'tap'
import { sign } from '../../src/emulator/signature.ts'
import { bearer, brokerEnv, brokerFor, emulatorFor, issueCalls } from '../helpers/broker.ts'
import { activationEvent, connectionEvent, postWebhook } from '../webhooks/helpers.ts'

t.test('a signed URL is good for one event: replayed with another body it is refused, redelivered with the same event it is a duplicate', async (t) => {
  const emulator = await emulatorFor(t)
  const { app, logs } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true' }))
  const victim = (await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('kara1') })).json().token
  const signed = { nonce: 'captured1', timestamp: String(Date.now()) }
  const url = { ...signed, signature: sign(emulator.appSecret, signed.nonce, signed.timestamp) }
  const genuine = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('kara1', 'evt-genuine'), url)
  t.equal(genuine.statusCode, 200, 'the genuine delivery')

  // The captured URL, with a forged soft delete of another user.
  const forged = await postWebhook(app, emulator.appSecret, emulator.appKey, activationEvent([{ userId: 'kara1', operationType: 0 }], 'evt-forged'), url)
  t.equal(forged.statusCode, 401)
  t.match(forged.json(), { code: 'invalid_token', detail: 'The webhook signature was already used for another event.' })
  const upper = await postWebhook(app, emulator.appSecret, emulator.appKey, activationEvent([{ userId: 'kara1', operationType: 0 }], 'evt-forged-2'), { ...url, signature: url.signature.toUpperCase() })
  t.equal(upper.statusCode, 401, 'the same signature in uppercase hex is the same signature')
  t.equal((await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('kara1') })).json().token, victim, 'nothing was purged')
  t.equal(issueCalls(emulator), 1, 'and no quota burnt')

  const redelivered = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('kara1', 'evt-genuine'), url)
  t.same(redelivered.json(), { status: 'duplicate' }, 'Nexconn retrying the same event on the same URL is not a replay')
  t.ok(logs.records().some((r) => r.msg === 'webhook refused' && r.reason === 'replayed'), 'the refusal is logged with its reason')
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /ctb_webhook_refusals_total\{reason="replayed"\} 2/, 'and counted')
})

t.test('a leading zero in the timestamp, or a timestamp minutes ahead: refused', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { WEBHOOK_ENABLED: 'true' }))
  const timestamp = String(Date.now())
  const signature = sign(emulator.appSecret, 'abc0', timestamp)
  const genuine = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('mona1', 'evt-z1'), { nonce: 'abc0', timestamp, signature })
  t.equal(genuine.statusCode, 200)
  // "abc" + "0" + timestamp hashes the same bytes as "abc0" + timestamp.
  const shifted = await postWebhook(app, emulator.appSecret, emulator.appKey, activationEvent([{ userId: 'mona1', operationType: 0 }], 'evt-z2'), { nonce: 'abc', timestamp: `0${timestamp}`, signature })
  t.equal(shifted.statusCode, 401, 'the same signature with a shifted digit')
  const ahead = String(Date.now() + 4 * 60_000)
  const future = await postWebhook(app, emulator.appSecret, emulator.appKey, connectionEvent('mona1', 'evt-z3'), { nonce: 'n4', timestamp: ahead, signature: sign(emulator.appSecret, 'n4', ahead) })
  t.equal(future.statusCode, 401, 'four minutes ahead is not clock skew')
})
