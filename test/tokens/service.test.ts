import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { emulatorFor, issueCalls, tokenServiceFor } from '../helpers/broker.ts'
import { waitFor } from '../helpers/redis.ts'

const identity = { userId: 'ttl1', name: 'TTL user', expiresAt: Date.now() + 3_600_000 }

t.test('expiring tokens: served until the margin, renewed ahead in the background', async (t) => {
  const emulator = await emulatorFor(t)
  let now = Date.now()
  const { service } = tokenServiceFor(t, emulator, { env: { NEXCONN_TOKEN_TTL_S: '1000' }, now: () => now })

  const first = await service.getToken(identity)
  t.equal(first.outcome, 'issued')
  t.equal(first.token.expiresAt, first.token.issuedAt + 1_000_000, 'expiresAt = issuedAt + TTL')

  now += 700_000 // before twice the margin (the margin is 10 % of 1000 s = 100 s)
  await sleep(5) // lru-cache holds its clock reading for a millisecond of real time
  t.equal((await service.getToken(identity)).outcome, 'store_hit', 'past the in-process lifetime (on the service\'s clock): from the store')
  t.equal(issueCalls(emulator), 1, 'no refresh yet')

  now += 150_000 // 850 s: within twice the margin, still servable
  await sleep(5)
  const ahead = await service.getToken(identity)
  t.equal(ahead.outcome, 'store_hit')
  t.equal(ahead.token.token, first.token.token, 'the old token is still served')
  await waitFor(() => issueCalls(emulator) === 2, 3000)
  await waitFor(async () => (await service.getToken(identity)).token.token !== first.token.token, 3000)
  const renewed = await service.getToken(identity)
  t.equal(renewed.token.issuedAt, now, 'the renewed token counts from when it was asked for')
  t.equal(issueCalls(emulator), 2)

  now = renewed.token.issuedAt + 950_000 // past the margin: no longer served
  const expired = await service.getToken(identity)
  t.equal(expired.outcome, 'issued', 'a token within the margin of expiry is not served; a new one is issued')
  t.not(expired.token.token, renewed.token.token)
})

t.test('a failed issue is not cached and does not block the next one', async (t) => {
  const emulator = await emulatorFor(t)
  const { service } = tokenServiceFor(t, emulator)
  emulator.addFault({ kind: 'business_error', code: 1004 })
  const failures = await Promise.allSettled([service.getToken(identity), service.getToken(identity)])
  t.same(failures.map((f) => f.status), ['rejected', 'rejected'], 'both callers of the shared flight see the failure')
  t.equal(issueCalls(emulator), 1)
  emulator.clearFaults()
  t.equal((await service.getToken(identity)).outcome, 'issued', 'the in-flight entry was cleaned up')
})

t.test('TOKEN_MEMORY_CACHE_USERS bounds the in-process cache: the least recently served user comes back from the store, not from Nexconn', async (t) => {
  const emulator = await emulatorFor(t)
  const { service, config } = tokenServiceFor(t, emulator, { env: { TOKEN_MEMORY_CACHE_USERS: '100' } })
  t.equal(config.tokens.memoryCacheUsers, 100)
  const users = Array.from({ length: 101 }, (_, i) => ({ userId: `bound${i}`, name: 'Bound user', expiresAt: Date.now() + 3_600_000 }))
  for (const user of users) t.equal((await service.getToken(user)).outcome, 'issued')
  t.equal((await service.getToken(users[100]!)).outcome, 'memory_hit', 'the most recent user is in memory')
  t.equal((await service.getToken(users[0]!)).outcome, 'store_hit', 'the 101st user pushed the first out of memory; the store still has it')
  t.equal(issueCalls(emulator), 101, 'one Nexconn call per user, eviction included')
})
