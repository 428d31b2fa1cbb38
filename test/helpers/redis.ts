/**
 * Real redis-server processes for tests, on loopback ports, without persistence. Every server
 * started through these helpers is killed when the test that started it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

interface Teardown { teardown: (fn: () => unknown) => void }

export interface RedisServer {
  readonly url: string
  readonly host: string
  readonly port: number
  /** Kills the server (SIGKILL): connections drop, data is lost. */
  stop: () => Promise<void>
  /** Starts it again on the same port. */
  start: () => Promise<void>
  /** SIGSTOP: the server keeps its connections but answers nothing. */
  freeze: () => void
  /** SIGCONT after `freeze`. */
  thaw: () => void
}

/**
 * The kernel's ephemeral range (Linux default 32768–60999): outgoing connections take their local
 * ports from it, so a port found free there can be taken by another test's client between the
 * check and the moment a server binds it (EADDRINUSE, seen in CI). Test servers get ports below it.
 */
const EPHEMERAL_LOW = ((): number => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768
  } catch {
    return 32_768
  }
})()
const LOWEST_TEST_PORT = 10_000

/**
 * A free loopback port outside the ephemeral range, at random so parallel test files rarely pick
 * the same. On a machine whose ephemeral range starts too low for that, the kernel's choice.
 */
export async function freePort (): Promise<number> {
  const span = EPHEMERAL_LOW - LOWEST_TEST_PORT
  const attempts = span >= 1_000 ? 100 : 0
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = await listenOnce(LOWEST_TEST_PORT + randomInt(span))
    if (port !== undefined) return port
  }
  const port = await listenOnce(0)
  if (port === undefined) throw new Error('no free loopback port')
  return port
}

/** Binds `port` on loopback and releases it: the port bound, or undefined if it was taken. */
async function listenOnce (port: number): Promise<number | undefined> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => { resolve(undefined) })
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : undefined) })
    })
  })
}

async function waitForPing (port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false })
    client.on('error', () => {}) // refused until the server listens: expected
    try {
      await client.connect()
      if (await client.ping() === 'PONG') return
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`)
    } finally {
      client.disconnect()
    }
    await sleep(50)
  }
}

export interface RedisServerOptions {
  port?: number
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[]
  /** Start a Sentinel instead of a data server. */
  sentinel?: boolean
}

/**
 * The CI matrix variable: `REDIS_MODE=sentinel` or `cluster` runs the suite's Redis-backed brokers
 * through a Sentinel or as a Cluster client, against the same data server, so every assertion on
 * what is stored still holds. A plain server from `startRedis` then also gets a Sentinel watching
 * it (sentinel), or is a one-node Cluster owning every slot (cluster); `brokerEnv` swaps its
 * REDIS_URL for the matching REDIS_SENTINELS or REDIS_CLUSTER_NODES. Default: standalone.
 */
export const REDIS_MODE = ((): 'standalone' | 'sentinel' | 'cluster' => {
  const mode = process.env.REDIS_MODE ?? 'standalone'
  if (mode !== 'standalone' && mode !== 'sentinel' && mode !== 'cluster') throw new Error(`REDIS_MODE must be standalone, sentinel or cluster; got ${mode}`)
  return mode
})()

const modeEnvByUrl = new Map<string, Record<string, string>>()

/** The broker settings that reach the server at `url` in REDIS_MODE; undefined = use the URL. */
export function redisModeEnv (url: string): Record<string, string> | undefined {
  return modeEnvByUrl.get(url)
}

export async function startRedis (t: Teardown, options: RedisServerOptions = {}): Promise<RedisServer> {
  const plain = options.args === undefined && options.sentinel !== true
  if (plain && REDIS_MODE === 'cluster') {
    const server = await startOneNodeCluster(t, options)
    modeEnvByUrl.set(server.url, { REDIS_CLUSTER_NODES: `127.0.0.1:${server.port}` })
    return server
  }
  const server = await startRedisProcess(t, options)
  if (plain && REDIS_MODE === 'sentinel') {
    const sentinel = await startSentinel(t, server)
    modeEnvByUrl.set(server.url, { REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`, REDIS_SENTINEL_NAME: 'mymaster' })
  }
  return server
}

/**
 * A Cluster node's settings. Its bus port is picked like any other port: by default it is the data
 * port + 10000, which nothing checked was free.
 */
async function clusterNodeArgs (...extra: string[]): Promise<string[]> {
  return ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--cluster-port', String(await freePort()), ...extra]
}

/** A Cluster of one node owning every slot, so plain clients in the tests still see every key. */
export async function startOneNodeCluster (t: Teardown, options: Pick<RedisServerOptions, 'port'> = {}): Promise<RedisServer> {
  // Announced as 127.0.0.1: a node alone in its Cluster does not know its own address otherwise.
  const server = await startRedisProcess(t, { ...options, args: await clusterNodeArgs('--cluster-announce-ip', '127.0.0.1') })
  const admin = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true, retryStrategy: () => null })
  admin.on('error', () => {})
  try {
    await admin.connect()
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383')
    await waitFor(async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 10_000, 50)
  } finally {
    admin.disconnect()
  }
  return server
}

async function startRedisProcess (t: Teardown, options: RedisServerOptions): Promise<RedisServer> {
  const port = options.port ?? await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'ctb-redis-'))
  let child: ChildProcess | undefined
  let frozen = false

  const start = async (): Promise<void> => {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--protected-mode', 'no', ...(options.args ?? [])
    ]
    child = options.sentinel === true
      ? spawn('redis-server', [join(dir, 'sentinel.conf'), '--sentinel', ...args], { stdio: 'ignore' })
      : spawn('redis-server', args, { stdio: 'ignore' })
    if (options.sentinel !== true) await waitForPing(port)
  }

  const stop = async (): Promise<void> => {
    const current = child
    child = undefined
    if (current === undefined || current.exitCode !== null) return
    if (frozen) { current.kill('SIGCONT'); frozen = false }
    const exited = new Promise((resolve) => current.once('exit', resolve))
    current.kill('SIGKILL')
    await exited
  }

  if (options.sentinel === true) {
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(dir, 'sentinel.conf'), '')
  }
  await start()
  t.teardown(async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  })

  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    stop,
    start,
    freeze: () => { child?.kill('SIGSTOP'); frozen = true },
    thaw: () => { child?.kill('SIGCONT'); frozen = false }
  }
}

/** Seconds-long waits in tests are bounded by this helper instead of open-ended loops. */
export async function waitFor (check: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(stepMs)
  }
}

/** A plain client for assertions on what is stored; disconnected when the test ends. */
export function redisClient (t: Teardown, url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  // The server may be stopped before this client: a reconnect error is expected then.
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  return client
}

/** A Sentinel watching `master` (quorum 1), on its own loopback port. */
export async function startSentinel (t: Teardown, master: RedisServer, name = 'mymaster'): Promise<{ port: number }> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'ctb-sentinel-'))
  const { writeFile } = await import('node:fs/promises')
  // Sentinel rewrites its configuration file, so it gets a writable one of its own.
  await writeFile(join(dir, 'sentinel.conf'), [
    `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${name} 2000`
  ].join('\n') + '\n')
  const child = spawn('redis-server', [join(dir, 'sentinel.conf'), '--sentinel'], { stdio: 'ignore' })
  t.teardown(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  })
  await waitFor(async () => {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    client.on('error', () => {})
    try {
      await client.connect()
      const address = await client.call('SENTINEL', 'get-master-addr-by-name', name) as string[] | null
      return address?.[1] === String(master.port)
    } catch {
      return false
    } finally {
      client.disconnect()
    }
  }, 10_000, 100)
  return { port }
}

/**
 * A three-master Redis Cluster on loopback, slots assigned, state ok. With `replicas: 1`, six
 * nodes: the first three are the masters, each of the others replicates one of them (so a
 * killed master fails over), and the call returns once every replica is in sync.
 */
export async function startCluster (t: Teardown, options: { replicas?: 0 | 1 } = {}): Promise<RedisServer[]> {
  const replicas = options.replicas ?? 0
  const nodes = await Promise.all(Array.from({ length: 3 * (1 + replicas) }, async () => await startRedis(t, { args: await clusterNodeArgs() })))
  const create = spawn('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { stdio: 'ignore' })
  const code = await new Promise((resolve) => create.once('exit', resolve))
  if (code !== 0) throw new Error(`redis-cli --cluster create exited with ${String(code)}`)
  const answers = async (...command: string[]): Promise<string[]> => await Promise.all(nodes.map(async (node) => String(await nodeCommand(node.port, ...command).catch(() => ''))))
  await waitFor(async () => (await answers('CLUSTER', 'INFO')).every((info) => info.includes('cluster_state:ok')), 15_000, 100)
  if (replicas > 0) {
    // Failover-ready: every replica has finished its first sync. One that never had its link up
    // counts its data as infinitely old and refuses to be promoted (cluster-replica-validity-factor),
    // which a loaded CI machine showed when a primary was killed seconds after the Cluster was made.
    await waitFor(async () => (await answers('INFO', 'replication')).filter((info) => info.includes('role:slave') && info.includes('master_link_status:up')).length === 3, 15_000, 100)
  }
  return nodes
}

/** The port of the Cluster master currently serving `slot` (asked of any live node). */
export async function masterOfSlot (port: number, slot: number): Promise<number> {
  const ranges = await nodeCommand(port, 'CLUSTER', 'SLOTS') as Array<[number, number, [string, number]]>
  const range = ranges.find(([from, to]) => slot >= from && slot <= to)
  if (range === undefined) throw new Error(`slot ${slot} is not served`)
  return Number(range[2][1])
}

/** The Cluster as one node sees it (CLUSTER NODES), for a failure message. */
export async function clusterNodes (port: number): Promise<string> {
  return String(await nodeCommand(port, 'CLUSTER', 'NODES').catch((err: unknown) => `(no answer: ${String(err)})`))
}

/** What a Sentinel says of the master it watches (SENTINEL MASTER), for a failure message. */
export async function sentinelMaster (port: number, name = 'mymaster'): Promise<unknown> {
  return await nodeCommand(port, 'SENTINEL', 'MASTER', name)
}

/** One command on one node, on a connection of its own. */
async function nodeCommand (port: number, ...command: string[]): Promise<unknown> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(command[0]!, ...command.slice(1))
  } finally {
    client.disconnect()
  }
}

/** A master with one replica in sync and a Sentinel watching them: a failover-ready setup. */
export async function startSentinelSet (t: Teardown, name = 'mymaster'): Promise<{ master: RedisServer, replica: RedisServer, sentinel: { port: number } }> {
  const master = await startRedis(t)
  const replica = await startRedis(t, { args: ['--replicaof', '127.0.0.1', String(master.port)] })
  await waitFor(async () => {
    const client = new Redis({ host: '127.0.0.1', port: replica.port, lazyConnect: true, retryStrategy: () => null })
    client.on('error', () => {})
    try {
      await client.connect()
      return String(await client.info('replication')).includes('master_link_status:up')
    } catch {
      return false
    } finally {
      client.disconnect()
    }
  }, 10_000, 50)
  // Started after the replica is linked, the Sentinel learns of it from its first INFO of the master.
  const sentinel = await startSentinel(t, master, name)
  await waitFor(async () => {
    const client = new Redis({ host: '127.0.0.1', port: sentinel.port, lazyConnect: true, retryStrategy: () => null })
    client.on('error', () => {})
    try {
      await client.connect()
      return (await client.call('SENTINEL', 'replicas', name) as unknown[]).length === 1
    } catch {
      return false
    } finally {
      client.disconnect()
    }
  }, 15_000, 100)
  return { master, replica, sentinel }
}
