/**
 * Redis Cluster key layout: every operation that touches several keys at once (a script or a
 * multi-key command) must find them in one slot, or Cluster refuses it with CROSSSLOT. The slots
 * are asked of a real cluster node (CLUSTER KEYSLOT), then each operation runs against the
 * cluster through the broker's own code, which fails if the layout is wrong.
 */
import { Cluster, Redis } from 'ioredis'
import { pino } from 'pino'
import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { RedisWindow } from '../../src/nexconn/quota-redis.ts'
import { invalidationLogKey, quotaKeys, replicasKey, userKeys, webhookKey } from '../../src/redis/key-layout.ts'
import { TokenCipher } from '../../src/tokens/crypto.ts'
import { userKeyFor } from '../../src/tokens/keys.ts'
import { RedisStore } from '../../src/tokens/redis-store.ts'
import { createWebhookMemory } from '../../src/webhooks/memory.ts'
import { TEST_ENCRYPTION_KEY } from '../helpers/env.ts'
import { startCluster } from '../helpers/redis.ts'

const PREFIX = 'ctb:'
const APP_KEY = 'layout-app-key'
const ENDPOINTS = ['/v4/auth/access-token/issue', '/v4/auth/access-token/expire', '/v4/user/info']

t.test('every multi-key operation keeps its keys in one Cluster slot', async (t) => {
  const nodes = await startCluster(t)
  const node = new Redis(nodes[0]!.port, '127.0.0.1')
  t.teardown(() => { node.disconnect() })
  const slot = async (key: string): Promise<number> => Number(await node.call('CLUSTER', 'KEYSLOT', key))
  const slotsOf = async (keys: string[]): Promise<number[]> => await Promise.all(keys.map(slot))

  const userSlots = new Set<number>()
  for (let i = 0; i < 50; i++) {
    const keys = userKeys(PREFIX, userKeyFor(APP_KEY, 'secret', `user-${i}`))
    // put: token + cutoff; revoke: token + cutoff; lock, throttle: beside them.
    const slots = await slotsOf([keys.token, keys.revoked, keys.lock, keys.throttle])
    t.equal(new Set(slots).size, 1, `user-${i}: token, cutoff, lock and throttle in slot ${slots[0]}`)
    userSlots.add(slots[0]!)
  }
  t.ok(userSlots.size >= 40, `50 users spread over ${userSlots.size} slots (not one hot slot)`)

  const quotaSlots = new Set<number>()
  for (const endpoint of ENDPOINTS) {
    const keys = quotaKeys(`${PREFIX}nexconn:quota:${APP_KEY}:`, endpoint)
    const slots = await slotsOf([keys.window, keys.backoff])
    t.equal(new Set(slots).size, 1, `quota of ${endpoint}: window and back-off in slot ${slots[0]}`)
    quotaSlots.add(slots[0]!)
  }
  t.equal(quotaSlots.size, ENDPOINTS.length, 'each endpoint\'s quota has a slot of its own')

  // Single-key structures: their slot is fixed by the tag, whatever the prefix.
  t.equal(await slot(replicasKey(PREFIX)), await slot(replicasKey('other:')), 'the replica registry\'s slot is set by its tag')
  t.equal(await slot(invalidationLogKey(PREFIX)), await slot('{invalidations}'), 'the invalidation log\'s slot is set by its tag')
  const webhookSlots = await slotsOf(['a', 'b', 'c', 'd'].map((d) => webhookKey(PREFIX, 'wh', d.repeat(64))))
  t.ok(new Set(webhookSlots).size > 1, 'webhook nonces and event ids (single keys) spread over slots')
})

t.test('the operations themselves run on a 3-primary Cluster (no CROSSSLOT)', async (t) => {
  const nodes = await startCluster(t)
  const cluster = new Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })))
  t.teardown(() => { cluster.disconnect() })
  await new Promise((resolve) => cluster.once('ready', resolve))
  const logger = pino({ level: 'silent' })
  const key = loadConfig({ NEXCONN_APP_KEY: APP_KEY, NEXCONN_APP_SECRET: 'secret', JWT_SECRET: 'x'.repeat(32), REDIS_URL: 'redis://127.0.0.1:1', TOKEN_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY }).tokens.encryptionKey!
  const store = new RedisStore({ client: cluster, cipher: new TokenCipher(key), keyPrefix: PREFIX, logger })

  for (let i = 0; i < 12; i++) {
    const user = userKeyFor(APP_KEY, 'secret', `op-${i}`)
    const issuedAt = Date.now()
    t.equal(await store.put(user, { userId: `op-${i}`, token: `token-${i}`, issuedAt, expiresAt: null }, 60_000), true, `op-${i}: put (script over token + cutoff)`)
    t.equal((await store.get(user))?.token, `token-${i}`, `op-${i}: get (MGET of token + cutoff)`)
    const lock = await store.lock(user, 1_000)
    t.ok(lock !== undefined && await store.extendLock(user, lock, 2_000), `op-${i}: lock and extend`)
    await store.unlock(user, lock!)
    await store.revoke(user, issuedAt + 1, 60_000)
    t.equal(await store.get(user), undefined, `op-${i}: revoke (script over token + cutoff) drops the token`)
    t.equal(await store.put(user, { userId: `op-${i}`, token: 'stale', issuedAt, expiresAt: null }, 60_000), false, `op-${i}: an issue older than the cutoff is refused`)
  }

  const window = new RedisWindow(cluster, `${PREFIX}nexconn:quota:${APP_KEY}:`, 1_000, 5_000)
  for (const endpoint of ENDPOINTS) {
    t.same(await window.tryAcquire(endpoint, 1, 'i', 0, 1), { admitted: 1, waitMs: 0, backoff: false }, `${endpoint}: admitted (script over window + back-off)`)
    t.match(await window.tryAcquire(endpoint, 1, 'i', 1, 1), { admitted: 0, backoff: false }, `${endpoint}: the second call waits`)
    await window.backoff(endpoint, 500)
    t.match(await window.tryAcquire(endpoint, 1, 'i', 2, 1), { admitted: 0, backoff: true }, `${endpoint}: the back-off is seen by admission`)
  }

  const memory = createWebhookMemory({ redis: cluster, keyPrefix: PREFIX, logger })
  t.equal(await memory.remember('signature', 'nonce-1', 'event-1', 60_000), undefined)
  t.equal(await memory.remember('signature', 'nonce-1', 'event-2', 60_000), 'event-1', 'a replayed nonce is recognised')
})
