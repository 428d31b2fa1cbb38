/**
 * Regression: every user's in-process entry lived exactly 60 s, so users served together (a
 * warm-up, a morning peak) all went back to the store in the same seconds a minute later. Under a
 * steady 2,000 req/s that burst of store reads, decryptions and garbage showed as a step in tail
 * latency (p99 5.6 → 14 ms in the round where it fell; docs/benchmarks.md). Entries now live
 * between 45 and 60 s.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { MEMORY_TTL_MS } from '../../src/tokens/service.ts'
import { MemoryStore, type CachedToken } from '../../src/tokens/store.ts'
import { emulatorFor, issueCalls, tokenServiceFor } from '../helpers/broker.ts'

/** The memory store, counting the reads that reach it. */
class CountingStore extends MemoryStore {
  reads = 0
  override async get (userKey: string): Promise<CachedToken | undefined> {
    this.reads++
    return await super.get(userKey)
  }
}

t.test('users cached at the same moment do not all leave the in-process cache at the same moment', async (t) => {
  const emulator = await emulatorFor(t)
  let now = Date.now()
  const store = new CountingStore()
  const { service } = tokenServiceFor(t, emulator, { store, now: () => now })
  const users = Array.from({ length: 200 }, (_, i) => ({ userId: `together${i}`, name: 'T', expiresAt: now + 3_600_000 }))
  // Tokens already in the store (as after earlier logins): the first request of each user reads it.
  for (const user of users) await store.put(service.userKey(user.userId), { userId: user.userId, token: `tok-${user.userId}`, issuedAt: now, expiresAt: null }, 3_600_000)
  for (const user of users) t.equal((await service.getToken(user)).outcome, 'store_hit')

  /** How many of the users go back to the store when asked `elapsedMs` after they were cached. */
  const start = now
  const backToStore = async (elapsedMs: number): Promise<number> => {
    now = start + elapsedMs
    await sleep(5) // lru-cache holds its clock reading for a millisecond of real time
    const before = store.reads
    let fresh = 0
    for (const user of users) if ((await service.getToken(user)).outcome === 'store_hit') fresh++
    t.equal(store.reads - before, fresh)
    return fresh
  }
  t.equal(await backToStore(MEMORY_TTL_MS * 0.7), 0, 'before three quarters of the lifetime, every user is served from memory')
  const midway = await backToStore(MEMORY_TTL_MS * 0.85)
  t.ok(midway > 0 && midway < users.length, `between three quarters and the whole lifetime, some users go back to the store, not all at once (${midway} of ${users.length})`)
  t.equal(await backToStore(MEMORY_TTL_MS * 0.85 + MEMORY_TTL_MS + 1), users.length, 'after the whole lifetime, everyone has been back (never served from memory past 60 s)')
  t.equal(issueCalls(emulator), 0, 'nothing issued: every token came from memory or the store')
})
