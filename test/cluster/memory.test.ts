/**
 * Redis memory per cached user, measured on real entries (the broker's own writes for tokens the
 * emulator issued), for the capacity plan in docs/scaling.md: MEMORY USAGE of each token entry
 * plus its share of Redis's hash tables, a revocation cutoff, and the growth of used_memory. The figure docs/scaling.md quotes
 * must stay within 25 % of what is measured here.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { brokerEnv, brokerFor, emulatorFor, bearer } from '../helpers/broker.ts'
import { redisClient, startRedis, waitFor } from '../helpers/redis.ts'

const USERS = 1_000
const ADMIN_KEY = 'm'.repeat(40)

t.test('Redis memory per cached user, measured', async (t) => {
  const server = await startRedis(t)
  const emulator = await emulatorFor(t, { rateLimits: {} })
  const broker = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: server.url, ADMIN_API_KEY: ADMIN_KEY, NEXCONN_DEADLINE_MS: '20000', SHUTDOWN_GRACE_MS: '20000' }))
  const redis = redisClient(t, server.url)
  await waitFor(async () => (await broker.app.inject({ method: 'GET', url: '/readyz' })).json().components.redis === 'ok', 5_000)
  const usedMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1])

  // Realistic user ids: 24 characters, like a database id.
  const users = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(23, '0')}`)
  const before = await usedMemory()
  for (let i = 0; i < users.length; i += 100) {
    const statuses = await Promise.all(users.slice(i, i + 100).map(async (user) => (await broker.app.inject({ method: 'POST', url: '/v1/token', headers: bearer(user) })).statusCode))
    t.same(new Set(statuses), new Set([200]), `users ${i}–${i + 99} served`)
  }
  // Every user: a write that timed out on a loaded machine is written again once Redis answers.
  await waitFor(async () => (await redis.keys('ctb:*:t')).length >= USERS, 10_000, 100)
  const tokenKeys = await redis.keys('ctb:*:t')
  t.equal(tokenKeys.length, USERS, 'a token entry per user')
  // Only the tokens count: the quota window (one member per recent issue, gone within seconds), the
  // replica registry and the invalidation log are dropped before measuring.
  const other = (await redis.keys('*')).filter((key) => !key.endsWith(':t'))
  // One key per DEL: in Cluster mode (REDIS_MODE=cluster) the keys live in different slots.
  await Promise.all(other.map(async (key) => await redis.del(key)))
  const growth = ((await usedMemory()) - before) / tokenKeys.length
  const usages = await Promise.all(tokenKeys.map(async (key) => Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'))))
  const entry = usages.reduce((a, b) => a + b, 0) / usages.length
  // Per user: the entry itself plus its share of the main and expires hash tables (MEMORY STATS),
  // a figure that does not move with client buffers the way used_memory does.
  const stats = await redis.call('MEMORY', 'STATS') as unknown[]
  const db0 = stats[stats.indexOf('db.0') + 1] as unknown[]
  const tables = Number(db0[db0.indexOf('overhead.hashtable.main') + 1]) + Number(db0[db0.indexOf('overhead.hashtable.expires') + 1])
  const perUser = entry + tables / tokenKeys.length
  const value = (await redis.get(tokenKeys[0]!))!.length

  const revoke = await broker.app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { userIds: [users[0]] } })
  t.equal(revoke.statusCode, 200)
  const cutoffKey = (await redis.keys('ctb:*:r'))[0]!
  const cutoff = Number(await redis.call('MEMORY', 'USAGE', cutoffKey, 'SAMPLES', '0'))
  const logEntry = Number(await redis.call('MEMORY', 'USAGE', 'ctb:{invalidations}', 'SAMPLES', '0'))

  t.comment(`Redis memory: token entry MEMORY USAGE ${entry.toFixed(0)} B (key ${tokenKeys[0]!.length} B, sealed value ${value} B); ` +
    `with its share of the hash tables ${perUser.toFixed(0)} B per cached user; used_memory growth ${growth.toFixed(0)} B per user over ${tokenKeys.length} users (client buffers included); ` +
    `revocation cutoff ${cutoff} B; invalidation log with one entry ${logEntry} B`)
  t.ok(entry > 100 && entry < 1_000, `a token entry takes ${entry.toFixed(0)} B`)

  // docs/scaling.md quotes the per-user figure: it must stay measured, not guessed.
  const quoted = /<!-- measured:bytes-per-user -->\s*\*\*(\d+) B\*\*/.exec(readFileSync(new URL('../../docs/scaling.md', import.meta.url), 'utf8'))
  t.ok(quoted, 'docs/scaling.md quotes the measured bytes per user')
  const documented = Number(quoted?.[1])
  t.ok(Math.abs(documented - perUser) / perUser <= 0.25, `docs/scaling.md says ${documented} B per user; measured ${perUser.toFixed(0)} B`)
})
