/**
 * Regression: the failed-authentication limiter read Redis on every request, so each cache hit
 * cost a Redis round trip (and an exception per request while Redis was down). Found by the
 * hit-path benchmark: 1.02 Redis GETs per hit.
 */
import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor } from '../helpers/broker.ts'
import { redisClient, startRedis } from '../helpers/redis.ts'

async function commandCalls (client: ReturnType<typeof redisClient>): Promise<number> {
  const info = await client.info('commandstats')
  return [...info.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
}

t.test('200 cache hits cost a handful of Redis commands, not 200', async (t) => {
  const redis = await startRedis(t)
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { REDIS_URL: redis.url, RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '30' }))
  const client = redisClient(t, redis.url)
  await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('hot1') })
  const before = await commandCalls(client)
  for (let i = 0; i < 200; i++) {
    const res = await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('hot1') })
    if (res.statusCode !== 200) t.fail(`status ${res.statusCode}`)
  }
  const used = (await commandCalls(client)) - before - 1 // the INFO call itself
  t.ok(used <= 20, `${used} Redis commands for 200 cache hits`)
})
