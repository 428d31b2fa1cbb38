/**
 * Fastify plugin: `fastify.redis` is the shared Redis connection, or `undefined` when no Redis is
 * configured (in-memory mode, a single instance). Readiness shows Redis as `ok`, `degraded` or
 * `disabled`; Redis is never critical, because the broker keeps serving without it.
 */
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import type { RedisConfig } from '../config.ts'
import { connectRedis, CONNECT_TIMEOUT_MS, type RedisConnection } from './client.ts'
import { ReplicaRegistry } from './replicas.ts'

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisConnection | undefined
    /** The fleet as seen through Redis heartbeats; `undefined` without Redis (a single instance). */
    replicas: ReplicaRegistry | undefined
  }
}

export default fp<{ config: RedisConfig | undefined }>(async (app, { config }) => {
  if (config === undefined) {
    app.log.warn('no Redis configured: tokens are cached in memory; run a single instance only')
    app.decorate('redis', undefined)
    app.decorate('replicas', undefined)
    app.readiness.register('redis', { critical: false, status: () => 'disabled' })
    return
  }
  const connection = connectRedis(config, app.log as Logger)
  app.decorate('redis', connection)
  app.readiness.register('redis', { critical: false, status: () => connection.state() === 'ready' ? 'ok' : 'degraded' })
  const replicas = new ReplicaRegistry({ client: connection.client, keyPrefix: config.keyPrefix, logger: app.log as Logger })
  app.decorate('replicas', replicas)
  // Back from an outage or a failover: count again at once (a new primary may have lost the set).
  connection.onStateChange((state) => { if (state === 'ready') void replicas.beat() })
  app.addHook('onReady', async () => {
    if (!await connection.waitReady(CONNECT_TIMEOUT_MS)) app.log.warn('redis not reachable at start; serving without it until it is')
    replicas.start()
  })
  app.addHook('onClose', async () => {
    await replicas.stop()
    await connection.close()
  })
}, { name: 'redis', dependencies: ['readiness'] })
