import t from 'tap'
import { pino } from 'pino'
import { sign } from '../../src/emulator/signature.ts'
import { createEventDedup } from '../../src/webhooks/dedup.ts'
import { verifyWebhook, type WebhookSignatureOptions } from '../../src/webhooks/signature.ts'

const options: WebhookSignatureOptions = {
  appKey: 'myappkey',
  appSecret: 'Y1W2MeFwwwRxa0',
  nonceParam: 'nonce',
  timestampParam: 'signTimestamp',
  signatureParam: 'signature',
  maxAgeS: 300
}
// The RongCloud documentation's test vector.
const VECTOR = { nonce: '14314', signTimestamp: '1408710653000', signature: '30be0bbca9c9b2e27578701e9fda2358a814c88f' }
const AT = 1408710653000

t.test('the documented test vector verifies, in either hex case, with or without appKey', async (t) => {
  t.same(verifyWebhook(VECTOR, options, AT), { ok: true })
  t.same(verifyWebhook({ ...VECTOR, signature: VECTOR.signature.toUpperCase() }, options, AT), { ok: true })
  t.same(verifyWebhook({ ...VECTOR, appKey: 'myappkey' }, options, AT), { ok: true })
  t.same(verifyWebhook({ ...VECTOR, appKey: 'other' }, options, AT), { ok: false, reason: 'app_key_mismatch' })
  t.same(verifyWebhook({ ...VECTOR, nonce: '14315' }, options, AT), { ok: false, reason: 'bad_signature' })
  t.same(verifyWebhook({ ...VECTOR, signature: `${VECTOR.signature}00` }, options, AT), { ok: false, reason: 'malformed_parameter' })
  t.same(verifyWebhook({ ...VECTOR, nonce: ['14314', '14314'] }, options, AT), { ok: false, reason: 'malformed_parameter' })
  t.same(verifyWebhook({ ...VECTOR, nonce: '' }, options, AT), { ok: false, reason: 'malformed_parameter' })
  t.same(verifyWebhook({ nonce: '1', signature: VECTOR.signature }, options, AT), { ok: false, reason: 'missing_parameter' })
})

t.test('freshness window: inclusive bounds, seconds below 1e12, milliseconds above', async (t) => {
  const check = (timestamp: string, now: number): unknown => verifyWebhook({ nonce: 'n', signTimestamp: timestamp, signature: sign(options.appSecret, 'n', timestamp) }, options, now)
  const now = 1_800_000_000_000
  t.same(check(String(now - 300_000), now), { ok: true }, 'exactly maxAgeS old')
  t.same(check(String(now - 300_001), now), { ok: false, reason: 'stale' })
  t.same(check(String(now + 300_000), now), { ok: true }, 'exactly maxAgeS ahead')
  t.same(check(String(now + 300_001), now), { ok: false, reason: 'future' })
  t.same(check(String(now / 1000 - 300), now), { ok: true }, 'seconds, exactly maxAgeS old')
  t.same(check(String(now / 1000 - 301), now), { ok: false, reason: 'stale' })
  t.same(check(String(now / 1000 + 301), now), { ok: false, reason: 'future' })
  t.same(check('0', now), { ok: false, reason: 'stale' })
  t.same(check('99999999999999999', now), { ok: false, reason: 'malformed_parameter' }, 'absurdly long')
  t.same(check('-5', now), { ok: false, reason: 'malformed_parameter' })
})

t.test('a bad signature is reported before staleness', async (t) => {
  t.same(verifyWebhook({ ...VECTOR, signature: 'f'.repeat(40) }, options, Date.now()), { ok: false, reason: 'bad_signature' })
  t.same(verifyWebhook(VECTOR, options, Date.now()), { ok: false, reason: 'stale' })
})

t.test('in-memory dedup: claim once, release lets a retry through', async (t) => {
  const dedup = createEventDedup({ keyPrefix: 'x:', logger: pino({ level: 'silent' }) })
  t.equal(await dedup.claim('evt-1'), true)
  t.equal(await dedup.claim('evt-1'), false)
  t.equal(await dedup.claim('evt-2'), true)
  await dedup.release('evt-1')
  t.equal(await dedup.claim('evt-1'), true, 'released, then claimable again')
})
