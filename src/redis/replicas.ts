/**
 * Replica awareness: each replica announces itself in Redis with an expiring heartbeat, so every
 * replica knows how many of them share the App Key. One sorted set (member: replica id, score:
 * the Redis-clock time the heartbeat expires); each beat adds this replica, drops expired ones and
 * counts, in one script, so replica clocks do not matter and a killed replica ages out by itself.
 *
 * The count matters most when Redis is gone: the shared quota window is then out of reach, and
 * each replica may use only its share of the per-App-Key Nexconn quota. The last count seen before
 * the outage is that divisor (a fleet does not change size because Redis went away); until the
 * first beat succeeds the replica counts itself alone.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { RedisClient } from './client.ts'
import { replicasKey } from './key-layout.ts'

/** How often a replica beats; a replica is counted until 3 beats are missed. */
export const HEARTBEAT_INTERVAL_MS = 5_000
export const HEARTBEAT_TTL_MS = 3 * HEARTBEAT_INTERVAL_MS
/** Leaving the registry at shutdown waits this long at most: a Redis that does not answer must not hold a shutdown. */
const LEAVE_TIMEOUT_MS = 500

/** KEYS: registry. ARGV: id, ttlMs. → live replicas, this one included. */
const BEAT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])`

export interface FleetView {
  /** Live replicas, this one included (≥ 1). */
  replicas: number
  /** `redis`: counted at the last beat; `last_known`: the last beat failed, this is the count before. */
  source: 'redis' | 'last_known'
}

export interface ReplicaRegistryOptions {
  client: RedisClient
  keyPrefix: string
  logger: Logger
  intervalMs?: number
  ttlMs?: number
}

export class ReplicaRegistry {
  /** Host name (the pod name in Kubernetes) plus a random part: unique across restarts. */
  readonly id = `${hostname()}:${randomBytes(4).toString('hex')}`
  readonly #client: RedisClient
  readonly #key: string
  readonly #logger: Logger
  readonly #intervalMs: number
  readonly #ttlMs: number
  readonly #listeners: Array<(view: FleetView) => void> = []
  #view: FleetView = { replicas: 1, source: 'last_known' }
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor (options: ReplicaRegistryOptions) {
    this.#client = options.client
    this.#key = replicasKey(options.keyPrefix)
    this.#logger = options.logger
    this.#intervalMs = options.intervalMs ?? HEARTBEAT_INTERVAL_MS
    this.#ttlMs = options.ttlMs ?? HEARTBEAT_TTL_MS
  }

  view (): FleetView {
    return this.#view
  }

  onChange (listener: (view: FleetView) => void): void {
    this.#listeners.push(listener)
  }

  start (): void {
    if (this.#timer !== undefined || this.#stopped) return
    void this.beat()
    this.#timer = setInterval(() => { void this.beat() }, this.#intervalMs)
    this.#timer.unref()
  }

  /** One heartbeat; also called at once when Redis comes back, so the count is fresh quickly. */
  async beat (): Promise<void> {
    if (this.#stopped) return
    let next: FleetView
    try {
      const count = Number(await this.#client.eval(BEAT, 1, this.#key, this.id, this.#ttlMs))
      next = { replicas: Math.max(1, count), source: 'redis' }
    } catch {
      next = { replicas: this.#view.replicas, source: 'last_known' }
    }
    if (next.replicas !== this.#view.replicas) this.#logger.info({ replicas: next.replicas }, 'replica count changed')
    const changed = next.replicas !== this.#view.replicas || next.source !== this.#view.source
    this.#view = next
    if (changed) for (const listener of this.#listeners) listener(next)
  }

  /** Leaves the registry at shutdown, so the others' share grows at once rather than after the TTL. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    let timer: NodeJS.Timeout | undefined
    const giveUp = new Promise<void>((resolve) => { timer = setTimeout(resolve, LEAVE_TIMEOUT_MS) })
    try {
      await Promise.race([this.#client.zrem(this.#key, this.id), giveUp])
    } catch { /* Redis gone: the entry expires by itself */ } finally {
      clearTimeout(timer)
    }
  }
}
