/** Expiring tokens (a lifetime set in the Nexconn console): reused until a margin before expiresAt. */
import t from 'tap'
import { createTokenProvider } from '../../client/src/index.ts'
import { jwtFor } from '../helpers/broker.ts'
import { liveBroker, manualClock } from './helpers.ts'

t.test('a token is reused until expiresAt minus the margin, then asked for again; never a request per call near expiry', async (t) => {
  const broker = await liveBroker(t, { NEXCONN_TOKEN_TTL_S: '3600' }, { tokenTtlMs: 3_600_000 })
  const clock = manualClock()
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('ttl1'), now: clock.now, expiryMarginMs: 60_000 })
  const first = await provider.getToken()
  t.type(first.expiresAt, 'string', 'the broker says when it expires')
  const expiresAt = Date.parse(first.expiresAt ?? '')
  t.ok(expiresAt > Date.now() + 3_000_000, 'about an hour from now')

  clock.set(expiresAt - 60_000 - 1)
  t.equal((await provider.getToken()).token, first.token)
  t.equal(broker.requests.length, 1, 'just outside the margin: from memory')

  clock.set(expiresAt - 60_000)
  t.equal((await provider.getToken()).token, first.token, 'the broker (whose clock is an hour earlier) still serves the same token')
  t.equal(broker.requests.length, 2, 'inside the margin: asked the broker')
  await provider.getToken()
  t.equal(broker.requests.length, 2, 'a token fetched inside the margin is kept for half its remaining life, not re-asked on every call')
  clock.advance(30_000)
  await provider.getToken()
  t.equal(broker.requests.length, 3)

  clock.set(expiresAt + 3_600_000)
  await provider.getToken()
  await provider.getToken()
  t.equal(broker.requests.length, 4, 'a clock far ahead of the broker costs one request per 5 s at most')
})

t.test('tokens that never expire (expiresAt null) are reused until clear()', async (t) => {
  const broker = await liveBroker(t)
  const clock = manualClock()
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('ttl2'), now: clock.now })
  const first = await provider.getToken()
  t.equal(first.expiresAt, null)
  clock.advance(365 * 24 * 3_600_000)
  t.equal((await provider.getToken()).token, first.token)
  t.equal(broker.requests.length, 1)
  provider.clear()
  await provider.getToken()
  t.equal(broker.requests.length, 2, 'after clear() it is asked again')
})
