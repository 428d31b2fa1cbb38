import t from 'tap'
import { pino } from 'pino'
import { sign } from '../../src/emulator/signature.ts'
import { createWebhookMemory } from '../../src/webhooks/memory.ts'
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

t.test('freshness window: maxAgeS into the past, 30 s of clock skew into the future; seconds below 1e12', async (t) => {
  const check = (timestamp: string, now: number): unknown => verifyWebhook({ nonce: 'n', signTimestamp: timestamp, signature: sign(options.appSecret, 'n', timestamp) }, options, now)
  const now = 1_800_000_000_000
  t.same(check(String(now - 300_000), now), { ok: true }, 'exactly maxAgeS old')
  t.same(check(String(now - 300_001), now), { ok: false, reason: 'stale' })
  t.same(check(String(now + 30_000), now), { ok: true }, 'exactly 30 s ahead')
  t.same(check(String(now + 30_001), now), { ok: false, reason: 'future' }, 'more than clock skew ahead')
  t.same(check(String(now + 300_000), now), { ok: false, reason: 'future' }, 'maxAgeS ahead is no longer accepted')
  t.same(check(String(now / 1000 - 300), now), { ok: true }, 'seconds, exactly maxAgeS old')
  t.same(check(String(now / 1000 - 301), now), { ok: false, reason: 'stale' })
  t.same(check(String(now / 1000 + 31), now), { ok: false, reason: 'future' })
  t.same(check('1', now), { ok: false, reason: 'stale' })
  t.same(check('99999999999999999', now), { ok: false, reason: 'malformed_parameter' }, 'absurdly long')
  t.same(check('-5', now), { ok: false, reason: 'malformed_parameter' })
  const short = { ...options, maxAgeS: 10 }
  const ahead = String(now + 10_001)
  t.same(verifyWebhook({ nonce: 'n', signTimestamp: ahead, signature: sign(options.appSecret, 'n', ahead) }, short, now), { ok: false, reason: 'future' }, 'a window shorter than the skew bounds the future too')
})

t.test('only canonical timestamps: a leading zero would let digits move between nonce and timestamp', async (t) => {
  const now = 1_800_000_000_000
  const timestamp = String(now)
  // What Nexconn sent: nonce "abc0". Its signature hashes "abc0" + timestamp, the same bytes as
  // "abc" + "0" + timestamp: a second parameter pair under the same signature.
  const signature = sign(options.appSecret, 'abc0', timestamp)
  t.same(verifyWebhook({ nonce: 'abc0', signTimestamp: timestamp, signature }, options, now), { ok: true }, 'the pair as sent')
  t.same(verifyWebhook({ nonce: 'abc', signTimestamp: `0${timestamp}`, signature }, options, now), { ok: false, reason: 'malformed_parameter' }, 'the shifted pair: refused')
  t.same(verifyWebhook({ nonce: 'abc', signTimestamp: '0', signature: sign(options.appSecret, 'abc', '0') }, options, now), { ok: false, reason: 'malformed_parameter' })
  t.same(verifyWebhook({ nonce: 'abc', signTimestamp: `+${timestamp}`, signature: sign(options.appSecret, 'abc', `+${timestamp}`) }, options, now), { ok: false, reason: 'malformed_parameter' })
})

t.test('a bad signature is reported before staleness', async (t) => {
  t.same(verifyWebhook({ ...VECTOR, signature: 'f'.repeat(40) }, options, Date.now()), { ok: false, reason: 'bad_signature' })
  t.same(verifyWebhook(VECTOR, options, Date.now()), { ok: false, reason: 'stale' })
})

t.test('webhook memory without Redis: the first value is kept, forget lets a retry through, entries expire', async (t) => {
  let now = 1_000_000
  const memory = createWebhookMemory({ keyPrefix: 'x:', logger: pino({ level: 'silent' }), now: () => now })
  t.equal(await memory.remember('event', 'evt-1', '1', 60_000), undefined, 'first time')
  t.equal(await memory.remember('event', 'evt-1', '1', 60_000), '1', 'seen')
  t.equal(await memory.remember('event', 'evt-2', '1', 60_000), undefined)
  t.equal(await memory.remember('signature', 'evt-1', 'other', 60_000), undefined, 'kinds do not collide')
  await memory.forget('event', 'evt-1')
  t.equal(await memory.remember('event', 'evt-1', '1', 60_000), undefined, 'forgotten, then new again')
  t.equal(await memory.remember('signature', 'sig', 'event-a', 1_000), undefined)
  t.equal(await memory.remember('signature', 'sig', 'event-b', 1_000), 'event-a', 'the first value wins')
  now += 1_001
  t.equal(await memory.remember('signature', 'sig', 'event-b', 1_000), undefined, 'expired after its ttl')
})
