/**
 * What the Redis store keeps for later when Redis cannot take a write, and what it must never do
 * when it writes it: overwrite a newer token another replica wrote meanwhile, or bring back a token
 * a logout or revocation dropped. Two stores stand for two replicas; each has its own connection,
 * made the way the broker makes it (short timeouts, no offline queue).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config.ts'
import { closeClient, createClient, type RedisClient } from '../../src/redis/client.ts'
import { TokenCipher } from '../../src/tokens/crypto.ts'
import { userKeyFor } from '../../src/tokens/keys.ts'
import { BREAKER_OPEN_MS, RedisStore } from '../../src/tokens/redis-store.ts'
import type { CachedToken } from '../../src/tokens/store.ts'
import { TEST_ENCRYPTION_KEY } from '../helpers/env.ts'
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.ts'

// Tagged as the broker tags it (`{<App Key>:<HMAC>}`), so a token and its cutoff share a Cluster slot.
const USER = userKeyFor('key', 'secret', 'u1')

interface Replica { store: RedisStore, client: RedisClient }

/** A replica's store on a connection of its own, once connected (commands fail at once before). */
async function replica (t: Test, server: RedisServer): Promise<Replica> {
  const config = loadConfig({ NEXCONN_APP_KEY: 'key', NEXCONN_APP_SECRET: 'secret', JWT_SECRET: 'x'.repeat(32), REDIS_URL: server.url, TOKEN_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY })
  const client = createClient(config.redis!)
  client.on('error', () => {})
  const store = new RedisStore({ client, cipher: new TokenCipher(config.tokens.encryptionKey!), keyPrefix: config.redis!.keyPrefix, logger: pino({ level: 'silent' }) })
  t.teardown(() => { store.close(); closeClient(client) })
  await new Promise((resolve) => client.once('ready', resolve))
  return { store, client }
}

/** After B is connected again, time for its retry to have run twice. */
async function bRetried (b: Replica): Promise<void> {
  if (b.client.status !== 'ready') await new Promise((resolve) => b.client.once('ready', resolve))
  await sleep(BREAKER_OPEN_MS * 2 + 200)
}

const token = (name: string, issuedAt: number): CachedToken => ({ userId: 'u1', token: name, issuedAt, expiresAt: null })

/**
 * A standalone server whatever REDIS_MODE says (the store's logic is the same in every mode, and
 * these tests restart the server, which a one-node Cluster does not come back from at once).
 */
async function standalone (t: Test): Promise<RedisServer> {
  return await startRedis(t, { args: [] })
}

/**
 * B issued while Redis was down: its write failed and is kept. Redis is back, and replica A is
 * connected, before B tries again (a second after its failure): the test checks that B has not.
 */
async function keptByB (t: Test, options: { refresh?: boolean } = {}): Promise<{ a: RedisStore, b: Replica }> {
  const server = await standalone(t)
  const b = await replica(t, server)
  await server.stop()
  await t.rejects(b.store.put(USER, token('from-b', Date.now()), 60_000, options.refresh === true), 'the write fails while Redis is down')
  await server.start()
  const a = (await replica(t, server)).store
  t.not((await a.get(USER))?.token, 'from-b', 'B has not written it yet')
  return { a, b }
}

t.test('a kept token is written once Redis is back', async (t) => {
  const { a } = await keptByB(t)
  await waitFor(async () => (await a.get(USER))?.token === 'from-b', 10_000, 100)
  t.pass('replica A reads the token B issued while Redis was down')
})

t.test('a kept token does not overwrite a newer one another replica wrote meanwhile', async (t) => {
  const { a, b } = await keptByB(t)
  t.equal(await a.put(USER, token('from-a', Date.now()), 60_000), true, 'replica A issued and stored a newer token')
  await bRetried(b)
  t.equal((await a.get(USER))?.token, 'from-a', 'still the newer token')
})

t.test('a kept refresh replaces the token it was issued to supersede', async (t) => {
  // The superseded token is written after the restart, standing for one that survived the outage
  // (a persistent Redis, a failover to a replica that had it).
  const { a } = await keptByB(t, { refresh: true })
  t.equal(await a.put(USER, token('superseded', Date.now() - 60_000), 60_000), true, 'Redis holds the token the refresh superseded')
  await waitFor(async () => (await a.get(USER))?.token === 'from-b', 10_000, 100)
  t.pass('the refreshed token replaced it')
})

t.test('a kept token is not brought back after a logout or revocation on another replica', async (t) => {
  const { a, b } = await keptByB(t)
  await a.revoke(USER, Date.now(), 60_000)
  await bRetried(b)
  t.equal(await a.get(USER), undefined, 'nothing served')
})

t.test('a kept revocation does not drop a token issued after it', async (t) => {
  const server = await standalone(t)
  const b = await replica(t, server)
  await server.stop()
  const cutoff = Date.now()
  await t.rejects(b.store.revoke(USER, cutoff, 60_000), 'the revocation fails while Redis is down')
  await server.start()
  const a = (await replica(t, server)).store
  t.equal(await a.put(USER, token('after-cutoff', cutoff + 1), 60_000), true, 'replica A stored a token issued after the cutoff')
  await waitFor(async () => await a.revokedAt(USER) === cutoff, 10_000, 100)
  t.equal((await a.get(USER))?.token, 'after-cutoff', 'the cutoff is written, and the newer token still served')
  t.equal(await a.put(USER, token('before-cutoff', cutoff - 1), 60_000), false, 'and the cutoff refuses older tokens')
})
