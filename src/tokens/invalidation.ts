/**
 * Cross-replica invalidation through a log in Redis: a logout, revocation, webhook purge or
 * forced refresh on one replica drops the user's token from every replica's in-process cache.
 *
 * Why a Stream and not pub/sub: pub/sub forgets a message sent while a replica is disconnected, and
 * that replica then kept serving a revoked token until its in-process entry aged out (up to a
 * minute). Here each invalidation is an entry (XADD, capped with MAXLEN ~), and each replica reads
 * the log with XREAD BLOCK on a connection of its own, remembering the last id it handled. After a
 * disconnection, a failover or a restart of Redis it reads on from that id, so it replays what it
 * missed. Where it cannot know what it missed (the log was trimmed past its id, or a failover lost
 * the log's tail), it drops its whole in-process cache instead: the next requests read Redis,
 * which keeps every revocation cutoff. An invalidation that could not be written (Redis down on
 * the publishing side) is kept and written once Redis is back.
 *
 * Entries carry only the opaque user key, a cutoff and the publishing replica's random id; a
 * replica skips its own entries (it already acted).
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { RedisClient, RedisState } from '../redis/client.ts'
import type { InvalidationBus } from './service.ts'

/** Entries kept in the log: how much a replica may miss and still replay exactly (~100 bytes each). */
export const LOG_MAX_ENTRIES = 10_000
/** XREAD BLOCK time; the reading connection's command timeout is longer than this. */
export const READ_BLOCK_MS = 1_000
/** Invalidations kept for writing later while Redis is unreachable; past this, the oldest go. */
const OUTBOX_MAX = 10_000
const RETRY_MS = 100

type Entry = [id: string, fields: string[]]
type XReadReply = Array<[key: string, entries: Entry[]]> | null

export interface InvalidationLogOptions {
  /** Writes (XADD); the shared command connection. */
  client: RedisClient
  /** Reads (XREAD BLOCK); a connection of its own whose command timeout exceeds READ_BLOCK_MS. */
  reader: RedisClient
  key: string
  logger: Logger
  /** Connection state of `client`: the outbox is flushed when it is ready again. */
  onStateChange: (listener: (state: RedisState) => void) => void
}

export interface InvalidationLog extends InvalidationBus {
  /** Stops reading; pending writes are dropped. */
  close: () => void
}

/** Stream ids are `<ms>-<seq>`: compared as numbers, not strings. */
export function compareIds (a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am !== bm ? am - bm : as - bs
}

export function redisInvalidationLog (options: InvalidationLogOptions): InvalidationLog {
  const { client, reader, key, logger } = options
  const origin = randomBytes(8).toString('hex')
  const listeners: Array<(userKey: string, cutoff: number) => void> = []
  const missedListeners: Array<() => void> = []
  const outbox: Array<[userKey: string, cutoff: number]> = []
  let lastId: string | undefined
  const life = { closed: false }
  let flushing = false

  const append = async (userKey: string, cutoff: number): Promise<void> => {
    await client.xadd(key, 'MAXLEN', '~', LOG_MAX_ENTRIES, '*', 'o', origin, 'c', String(cutoff), 'u', userKey)
  }

  const flush = async (): Promise<void> => {
    if (flushing) return
    flushing = true
    try {
      while (outbox.length > 0 && !life.closed) {
        const [userKey, cutoff] = outbox[0]!
        await append(userKey, cutoff)
        outbox.shift()
      }
    } catch { /* still down: the next 'ready' tries again */ } finally {
      flushing = false
    }
  }
  options.onStateChange((state) => { if (state === 'ready') void flush() })

  const missed = (why: string): void => {
    logger.warn({ why }, 'invalidation log: entries may have been missed; in-process cache dropped')
    for (const listener of missedListeners) listener()
  }

  /** Where to read from after (re)connecting, and whether what was missed can be replayed. */
  const resume = async (): Promise<void> => {
    const newest = await reader.xrevrange(key, '+', '-', 'COUNT', 1) as Entry[]
    const newestId = newest[0]?.[0]
    if (lastId === undefined) {
      // First position in the log. A replica that just started may already have cached a token
      // (it serves before Redis answers), and what was logged meanwhile is unknown: drop the lot.
      lastId = newestId ?? '0-0'
      for (const listener of missedListeners) listener()
      return
    }
    if (newestId === undefined ? lastId !== '0-0' : compareIds(newestId, lastId) < 0) {
      // The log is gone or shorter than what was read: a failover lost its tail, or Redis restarted empty.
      missed('the log lost entries already read')
      lastId = newestId ?? '0-0'
      return
    }
    const oldest = await reader.xrange(key, '-', '+', 'COUNT', 1) as Entry[]
    const oldestId = oldest[0]?.[0]
    if (oldestId !== undefined && compareIds(oldestId, lastId) > 0 && await reader.xlen(key) >= LOG_MAX_ENTRIES) {
      missed('the log was trimmed past the last entry read')
    }
  }

  const handle = (entries: Entry[]): void => {
    for (const [id, fields] of entries) {
      lastId = id
      const field = (name: string): string | undefined => fields[fields.indexOf(name) + 1]
      const cutoff = field('c') ?? ''
      const userKey = field('u')
      if (field('o') === origin || userKey === undefined || !/^\d+$/.test(cutoff)) continue
      for (const listener of listeners) listener(userKey, Number(cutoff))
    }
  }

  const readLoop = async (): Promise<void> => {
    let resumed = false
    let failures = 0
    while (!life.closed) {
      try {
        if (!resumed) {
          await resume()
          resumed = true
        }
        const reply = await reader.xread('COUNT', 1000, 'BLOCK', READ_BLOCK_MS, 'STREAMS', key, lastId ?? '$') as XReadReply
        failures = 0
        for (const [, entries] of reply ?? []) handle(entries)
      } catch (err) {
        if (life.closed) return
        // Disconnected, failed over, or not yet connected: read on from the last id once back.
        resumed = false
        if (++failures === 1) logger.debug({ errCode: (err as { code?: string }).code }, 'invalidation log: read failed; will resume from the last entry read')
        await sleep(Math.min(RETRY_MS * failures, 1_000))
      }
    }
  }
  void readLoop()

  return {
    publish: async (userKey, cutoff) => {
      try {
        await append(userKey, cutoff)
      } catch (err) {
        // Kept for later: a replica that misses nothing still needs the entry to be written at all.
        if (outbox.length >= OUTBOX_MAX) outbox.shift()
        outbox.push([userKey, cutoff])
        throw err
      }
    },
    subscribe: (listener) => { listeners.push(listener) },
    onMissed: (listener) => { missedListeners.push(listener) },
    close: () => { life.closed = true }
  }
}
