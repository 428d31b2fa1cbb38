/**
 * The Redis connection, built for a cache that must degrade rather than hang: commands fail
 * after `COMMAND_TIMEOUT_MS` (a frozen Redis), fail at once while disconnected (no offline
 * queue), are retried at most once, and reconnection goes on in the background forever.
 * State changes are logged once each, not once per retry.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import type { RedisConfig } from '../config.ts'

export const COMMAND_TIMEOUT_MS = 300
export const CONNECT_TIMEOUT_MS = 2_000
const MAX_RECONNECT_DELAY_MS = 2_000

export type RedisClient = Redis | Cluster
export type RedisState = 'connecting' | 'ready' | 'down'

export interface RedisConnection {
  readonly client: RedisClient
  /** A second connection for pub/sub: a subscribed connection cannot run other commands. */
  readonly subscriber: RedisClient
  state: () => RedisState
  onStateChange: (listener: (state: RedisState) => void) => void
  /** Resolves once connected, or after `timeoutMs` either way: start-up waits briefly, never fails. */
  waitReady: (timeoutMs: number) => Promise<boolean>
  close: () => Promise<void>
}

function baseOptions (config: RedisConfig): RedisOptions {
  return {
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // Reconnect forever with a capped back-off: Redis coming back must be picked up on its own.
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS),
    ...(config.password === undefined ? {} : { password: config.password })
  }
}

function createClient (config: RedisConfig): RedisClient {
  const options = baseOptions(config)
  switch (config.mode) {
    case 'standalone':
      return new Redis(config.url, options)
    case 'sentinel':
      return new Redis({
        ...options,
        sentinels: config.sentinels,
        name: config.name,
        ...(config.password === undefined ? {} : { sentinelPassword: config.password }),
        ...(config.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
        sentinelRetryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS)
      })
    case 'cluster': {
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue: false,
        enableReadyCheck: true,
        clusterRetryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS),
        redisOptions: { ...options, ...(config.tls ? { tls: {} } : {}) },
        slotsRefreshTimeout: CONNECT_TIMEOUT_MS
      }
      return new Cluster(config.nodes, clusterOptions)
    }
  }
}

export function connectRedis (config: RedisConfig, logger: Logger): RedisConnection {
  const client = createClient(config)
  const subscriber = createClient(config)
  const listeners: Array<(state: RedisState) => void> = []
  let state: RedisState = 'connecting'

  const setState = (next: RedisState, err?: Error): void => {
    if (next === state) return
    state = next
    if (next === 'ready') logger.info({ redis: config.mode }, 'redis connected')
    else logger.warn({ redis: config.mode, errCode: (err as NodeJS.ErrnoException | undefined)?.code }, 'redis unavailable: serving from the in-process cache')
    for (const listener of listeners) listener(next)
  }

  client.on('ready', () => { setState('ready') })
  client.on('end', () => { setState('down') })
  client.on('close', () => { if (state === 'ready') setState('down') })
  // Without a listener ioredis prints every connection error; the state change is enough.
  client.on('error', (err: Error) => { setState('down', err) })
  subscriber.on('error', () => {})

  return {
    client,
    subscriber,
    state: () => state,
    onStateChange: (listener) => { listeners.push(listener) },
    waitReady: async (timeoutMs) => {
      if (state === 'ready') return true
      return await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { resolve(false) }, timeoutMs)
        timer.unref()
        listeners.push((next) => { if (next === 'ready') { clearTimeout(timer); resolve(true) } })
      })
    },
    close: async () => {
      client.disconnect()
      subscriber.disconnect()
    }
  }
}
