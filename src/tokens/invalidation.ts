/**
 * Cross-replica invalidation over Redis pub/sub: a logout, revocation or forced refresh on one
 * replica drops the user's token from every replica's in-process cache at once. Messages carry
 * only the opaque user key and a cutoff; a replica ignores its own messages (it already acted).
 * Pub/sub is best effort: while Redis is down, the in-process cache's short TTL bounds staleness.
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { RedisClient } from '../redis/client.ts'
import type { InvalidationBus } from './service.ts'

export function redisInvalidationBus (publisher: RedisClient, subscriber: RedisClient, channel: string, logger: Logger): InvalidationBus {
  const origin = randomBytes(8).toString('hex')
  const listeners: Array<(userKey: string, cutoff: number) => void> = []

  subscriber.on('message', (received: string, message: string) => {
    if (received !== channel) return
    const [from, cutoff, userKey] = message.split(' ')
    if (from === origin || userKey === undefined || !/^\d+$/.test(cutoff ?? '')) return
    for (const listener of listeners) listener(userKey, Number(cutoff))
  })
  // Subscribe on every (re)connect: with no offline queue, a subscribe sent while Redis is down fails.
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).catch((err: unknown) => {
      logger.warn({ errCode: (err as { code?: string }).code }, 'could not subscribe to invalidations')
    })
  })

  return {
    publish: async (userKey, cutoff) => {
      await publisher.publish(channel, `${origin} ${cutoff} ${userKey}`)
    },
    subscribe: (listener) => { listeners.push(listener) }
  }
}
