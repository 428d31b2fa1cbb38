/**
 * The Redis connection, built for a cache that must degrade rather than hang: commands fail
 * after `COMMAND_TIMEOUT_MS` (a frozen Redis), fail at once while disconnected (no offline
 * queue), are retried at most once, and reconnection goes on in the background forever.
 * State changes are logged once each, not once per retry.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import { rootCertificates, type ConnectionOptions } from 'node:tls'
import type { RedisConfig, RedisTls } from '../config.ts'

export const COMMAND_TIMEOUT_MS = 300
export const CONNECT_TIMEOUT_MS = 2_000
const MAX_RECONNECT_DELAY_MS = 2_000
const SLOTS_REFRESH_INTERVAL_MS = 5_000
/** The log reader blocks up to 1 s per XREAD; a frozen Redis is noticed within this. */
export const READER_COMMAND_TIMEOUT_MS = 3_000

export type RedisClient = Redis | Cluster
export type RedisState = 'connecting' | 'ready' | 'down'

export interface RedisConnection {
  readonly client: RedisClient
  /** A second connection for blocking reads of the invalidation log (XREAD BLOCK holds it). */
  readonly reader: RedisClient
  state: () => RedisState
  onStateChange: (listener: (state: RedisState) => void) => void
  /** Resolves once connected, or after `timeoutMs` either way: start-up waits briefly, never fails. */
  waitReady: (timeoutMs: number) => Promise<boolean>
  close: () => Promise<void>
}

/** Node's TLS options from the configured PEMs; a private CA is trusted on top of the system CAs. */
function tlsOptions (tls: RedisTls): ConnectionOptions {
  return {
    ...(tls.ca === undefined ? {} : { ca: [...rootCertificates, tls.ca] }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key })
  }
}

function baseOptions (config: RedisConfig): RedisOptions {
  return {
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // Reconnect forever with a capped back-off: Redis coming back must be picked up on its own.
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS),
    // A replica promoted by a failover: a connection still pointing at the demoted primary gets
    // READONLY on writes; reconnecting (Sentinel then asks for the new primary) is the cure.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(config.tls === undefined ? {} : { tls: tlsOptions(config.tls) })
  }
}

/** `overrides`: e.g. a longer command timeout for a connection that blocks on XREAD. */
export function createClient (config: RedisConfig, overrides: Partial<RedisOptions> = {}): RedisClient {
  const options = { ...baseOptions(config), ...overrides }
  switch (config.mode) {
    case 'standalone':
      // Values in the URL (user, password, db) win over the options, as documented.
      return new Redis(config.url, options)
    case 'sentinel':
      return new Redis({
        ...options,
        sentinels: config.sentinels,
        name: config.name,
        ...(config.password === undefined ? {} : { sentinelPassword: config.password }),
        ...(config.tls === undefined ? {} : { sentinelTLS: tlsOptions(config.tls), enableTLSForSentinelMode: true }),
        sentinelRetryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS),
        // Ask the Sentinels again after a failover instead of retrying the old primary's address.
        failoverDetector: true
      })
    case 'cluster': {
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue: false,
        enableReadyCheck: true,
        clusterRetryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS),
        redisOptions: options,
        slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
        // Off: refreshSlotsPeriodically does it, and stops when the client is closed.
        slotsRefreshInterval: 0,
        // A Cluster over TLS (ElastiCache, Memorystore) announces node names that only resolve to
        // the certificate's host through the address given; looking them up again breaks SNI.
        ...(config.tls === undefined ? {} : { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => { callback(null, address) } })
      }
      const cluster = new Cluster(config.nodes, clusterOptions)
      refreshSlotsPeriodically(cluster)
      return cluster
    }
  }
}

/** The slot-map timers of Cluster clients, stopped by `closeClient`. */
const slotRefreshers = new WeakMap<Cluster, NodeJS.Timeout>()

/**
 * Notices a moved or dead primary within seconds, not only when a node answers MOVED or drops.
 * Not ioredis's own `slotsRefreshInterval`: when a refresh is in flight at `disconnect()`, its
 * callback arms the next round anyway, so a closed client goes on refreshing an empty pool every
 * few seconds for good and keeps its process alive (seen as test files that passed every case and
 * never exited; ioredis 5.11). This timer is unref'd and stopped by `closeClient`.
 */
function refreshSlotsPeriodically (cluster: Cluster): void {
  const timer = setInterval(() => {
    if (cluster.status === 'ready') cluster.refreshSlotsCache()
  }, SLOTS_REFRESH_INTERVAL_MS)
  timer.unref()
  slotRefreshers.set(cluster, timer)
}

/** Disconnects at once (nothing waits for replies) and stops what the client runs on its own. */
export function closeClient (client: RedisClient): void {
  if (client instanceof Cluster) clearInterval(slotRefreshers.get(client))
  client.disconnect()
}

export function connectRedis (config: RedisConfig, logger: Logger): RedisConnection {
  const client = createClient(config)
  // Its command timeout must outlast one XREAD BLOCK (see tokens/invalidation.ts).
  // A read cut by a disconnection fails at once (not resent later): the log reader resumes itself.
  const reader = createClient(config, { commandTimeout: READER_COMMAND_TIMEOUT_MS, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 })
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
  reader.on('error', () => {})

  return {
    client,
    reader,
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
      closeClient(client)
      closeClient(reader)
    }
  }
}
