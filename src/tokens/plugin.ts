/**
 * Fastify plugin wiring the token flow: the Nexconn client, the store (Redis when configured,
 * memory otherwise), cross-replica invalidation, and `fastify.tokens` (the TokenService).
 */
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import { createNexconnClient, type NexconnClient, type NexconnHooks } from '../nexconn/index.ts'
import { TokenCipher } from './crypto.ts'
import { invalidationLogKey } from '../redis/key-layout.ts'
import { redisInvalidationLog } from './invalidation.ts'
import { RedisStore } from './redis-store.ts'
import { serviceSettings, TokenService, type TokenHooks } from './service.ts'
import { MemoryStore, type TokenStore } from './store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService
    nexconn: NexconnClient
  }
}

export interface TokensPluginOptions {
  config: Config
  hooks?: TokenHooks & { onDecryptFailure?: () => void }
  nexconnHooks?: NexconnHooks
}

export default fp<TokensPluginOptions>(async (app, { config, hooks, nexconnHooks }) => {
  const logger = app.log as Logger
  const redis = app.redis
  const prefix = config.redis?.keyPrefix ?? ''
  const nexconn = createNexconnClient(config.nexconn, {
    logger,
    ...(redis === undefined ? {} : { redis: redis.client, redisKeyPrefix: prefix }),
    ...(app.replicas === undefined ? {} : { fleetSize: () => app.replicas?.view().replicas ?? 1 }),
    ...(nexconnHooks === undefined ? {} : { hooks: nexconnHooks })
  })
  app.decorate('nexconn', nexconn)
  app.readiness.register('nexconn', { critical: false, status: () => nexconn.health().status })

  let store: TokenStore
  if (redis === undefined) {
    store = new MemoryStore()
  } else {
    const key = config.tokens.encryptionKey
    if (key === undefined) throw new Error('BUG: config validation lets Redis through without an encryption key')
    const redisStore = new RedisStore({
      client: redis.client,
      cipher: new TokenCipher(key, config.tokens.oldEncryptionKeys),
      keyPrefix: prefix,
      logger,
      ...(hooks?.onDecryptFailure === undefined ? {} : { onDecryptFailure: hooks.onDecryptFailure })
    })
    // Connected is not enough: while the store's breaker is open (commands failing, e.g. a Cluster
    // primary gone until its replica is promoted), Redis shows as degraded too.
    store = redisStore
    app.addHook('onClose', (_app, done) => { redisStore.close(); done() })
    app.readiness.register('redis', { critical: false, status: () => redis.state() === 'ready' && redisStore.healthy() ? 'ok' : 'degraded' })
  }

  const bus = redis === undefined
    ? undefined
    : redisInvalidationLog({ client: redis.client, reader: redis.reader, key: invalidationLogKey(prefix), logger, onStateChange: redis.onStateChange })
  // Before the connections close (the Redis plugin's onClose runs after this one's).
  app.addHook('preClose', async () => { bus?.close() })
  app.decorate('tokens', new TokenService({
    ...serviceSettings(config),
    store,
    nexconn,
    logger,
    ...(bus === undefined ? {} : { bus }),
    ...(hooks === undefined ? {} : { hooks })
  }))
  app.addHook('onClose', async () => { await nexconn.close() })
}, { name: 'tokens', dependencies: ['readiness', 'redis'] })
