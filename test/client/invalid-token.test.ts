/**
 * The 31004 path against the real broker. The token is made really invalid: it is expired at
 * Nexconn (the emulator) behind the broker's back — as an operator's own backend calling the
 * expire API would — so the broker's cache still serves it and only forceRefresh helps.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { createTokenProvider, type TokenProviderError } from '../../client/src/index.ts'
import type { Emulator } from '../../src/emulator/types.ts'
import { call, EXPIRE } from '../emulator/helpers.ts'
import { jwtFor } from '../helpers/broker.ts'
import { liveBroker, manualClock, rejection } from './helpers.ts'

/** The chat SDK's connect as far as tokens go: 0 when the chat server accepts the token, else 31004. */
function connect (emulator: Emulator, token: string): number {
  return emulator.tokenStatus(token).valid ? 0 : 31004
}

async function expireAtNexconn (emulator: Emulator, userId: string): Promise<void> {
  await sleep(5) // a cutoff strictly after the current token's issue time
  const res = await call(emulator, EXPIRE, { userIds: [userId], expiresAt: Date.now() })
  if (res.status !== 200) throw new Error(`expire failed: ${res.status}`)
  await sleep(5) // and a new token strictly after the cutoff
}

t.test('31004: onInvalidToken() forces one refresh; the new token connects; getToken() then serves it from memory', async (t) => {
  const broker = await liveBroker(t)
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('stale1') })
  const first = await provider.getToken()
  t.equal(connect(broker.emulator, first.token), 0)

  await expireAtNexconn(broker.emulator, 'stale1')
  t.equal(connect(broker.emulator, first.token), 31004, 'the chat server now refuses it')
  t.equal((await provider.getToken()).token, first.token, 'the provider cannot know until the SDK says so')

  const fresh = await provider.onInvalidToken(first.token)
  t.not(fresh.token, first.token)
  t.equal(connect(broker.emulator, fresh.token), 0, 'the new token connects')
  t.same(broker.requests.map((r) => r.forceRefresh), [false, true], 'one forced request')
  t.equal((await provider.getToken()).token, fresh.token)
  t.equal(broker.requests.length, 2, 'served from memory afterwards')
})

t.test('no loop: concurrent reports share one refresh, a stale report is answered locally, a second 31004 within the interval is refused', async (t) => {
  const broker = await liveBroker(t)
  const clock = manualClock()
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('stale2'), now: clock.now })
  const first = await provider.getToken()
  await expireAtNexconn(broker.emulator, 'stale2')

  const fresh = await Promise.all(Array.from({ length: 10 }, async () => await provider.onInvalidToken(first.token)))
  t.equal(new Set(fresh.map((token) => token.token)).size, 1, 'ten reports, one new token')
  t.same(broker.requests.map((r) => r.forceRefresh), [false, true])
  const second = fresh[0]?.token ?? ''

  t.equal((await provider.onInvalidToken(first.token)).token, second, 'a late report about the old token gets the new one')
  t.equal(broker.requests.length, 2, 'without a request')

  clock.advance(10_000)
  const throttled = await rejection(provider.onInvalidToken(second))
  t.match(throttled, { code: 'refresh_throttled', retryAfterMs: 20_000 }, 'a 31004 for the new token 10 s later: ask again in 20 s')
  t.match(await rejection(provider.onInvalidToken(second)), { code: 'refresh_throttled' }, 'and again: still no request')
  t.equal(broker.requests.length, 2, 'the broker was not asked: it would have returned the same token')
})

t.test('the broker\'s own 30 s throttle (another device refreshed): the same token back is refused, not looped on', async (t) => {
  const broker = await liveBroker(t)
  const clock = manualClock()
  const phone = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('stale3'), now: clock.now })
  const first = await phone.getToken()
  await expireAtNexconn(broker.emulator, 'stale3')
  const second = await phone.onInvalidToken(first.token)
  t.equal(connect(broker.emulator, second.token), 0)

  // The provider's clock says the interval has passed; the broker's real one says it has not.
  clock.advance(30_000)
  const error = await rejection(phone.onInvalidToken(second.token))
  t.match(error, { code: 'refresh_throttled', retryAfterMs: 30_000 })
  t.same(broker.requests.map((r) => r.forceRefresh), [false, true, true], 'one forced request, answered with the same token')
  t.match(await rejection(phone.onInvalidToken(second.token)), { code: 'refresh_throttled' })
  t.equal(broker.requests.length, 3, 'no further request')
  t.equal((error as TokenProviderError).status, undefined, 'a client-side code: the broker answered 200')
})
