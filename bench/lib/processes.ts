/**
 * Child processes of the benchmark: redis-server, the Nexconn emulator, broker processes and the
 * bare Fastify reference, all on 127.0.0.1. Every child is registered here, so `stopAll()` (and,
 * as a last resort, the `exit` handler) ends each one even when a scenario fails.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { chartNodeFlags } from './chart.ts'

export const HOST = '127.0.0.1'
const STOP_GRACE_MS = 8_000
const START_TIMEOUT_MS = 20_000

export interface Child {
  readonly name: string
  readonly pid: number
  readonly logFile: string
  readonly exited: Promise<void>
  /** SIGTERM, then SIGKILL after a grace period (a broker writes its CPU profile on a clean exit). */
  stop: (signal?: NodeJS.Signals) => Promise<void>
  alive: () => boolean
}

const running = new Set<Child>()
let logDir = ''

/** Where child logs go (one file per child); set once by the entry point. */
export function setLogDir (dir: string): void {
  mkdirSync(dir, { recursive: true })
  logDir = dir
}

// A crash of the harness itself must not leave servers behind.
process.once('exit', () => { for (const child of running) process.kill(child.pid, 'SIGKILL') })

export function spawnChild (name: string, command: string, args: string[], env: Record<string, string> = {}): Child {
  const logFile = join(logDir, `${name}.log`)
  const fd = openSync(logFile, 'a')
  const proc: ChildProcess = spawn(command, args, {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', fd, fd]
  })
  closeSync(fd)
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`)
  const exited = new Promise<void>((resolve) => { proc.once('exit', () => { resolve() }) })
  const child: Child = {
    name,
    pid: proc.pid,
    logFile,
    exited,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    stop: async (signal = 'SIGTERM') => {
      if (child.alive()) {
        proc.kill(signal)
        const timer = setTimeout(() => { proc.kill('SIGKILL') }, STOP_GRACE_MS)
        await exited
        clearTimeout(timer)
      }
      running.delete(child)
    }
  }
  running.add(child)
  void exited.then(() => { running.delete(child) })
  return child
}

export async function stopAll (): Promise<void> {
  await Promise.all([...running].map(async (child) => { await child.stop() }))
}

export function logTail (child: Child, lines = 20): string {
  try {
    return readFileSync(child.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

/** Polls `url` until it answers 200, the child dies, or the start timeout passes. */
export async function waitForHttp (url: string, child: Child): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (!child.alive()) throw new Error(`${child.name} exited during start:\n${logTail(child)}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await res.arrayBuffer()
      if (res.ok) return
    } catch { /* not listening yet */ }
    await sleep(50)
  }
  throw new Error(`${child.name} did not answer ${url} within ${START_TIMEOUT_MS} ms:\n${logTail(child)}`)
}

export interface RedisProcess {
  readonly url: string
  readonly child: Child
  /** A client for the harness itself (seeding). */
  readonly client: Redis
  /** Commands served since start or the last reset, by name (`INFO commandstats`). */
  commandCounts: () => Promise<Record<string, number>>
  resetCommandCounts: () => Promise<void>
  stop: () => Promise<void>
}

export async function startRedis (name = 'redis'): Promise<RedisProcess> {
  const port = await freePort()
  const child = spawnChild(name, 'redis-server', [
    '--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', logDir
  ])
  const client = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
  client.on('error', () => {}) // refused while starting, reset when stopped: both expected
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    try {
      if (client.status !== 'ready') await client.connect()
      if (await client.ping() === 'PONG') break
    } catch {
      if (!child.alive() || Date.now() > deadline) throw new Error(`redis-server did not start:\n${logTail(child)}`)
      client.disconnect()
      await sleep(50)
    }
  }
  return {
    url: `redis://${HOST}:${port}`,
    child,
    client,
    commandCounts: async () => {
      const counts: Record<string, number> = {}
      for (const match of (await client.info('commandstats')).matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) counts[match[1] ?? ''] = Number(match[2])
      return counts
    },
    resetCommandCounts: async () => { await client.config('RESETSTAT') },
    stop: async () => {
      client.disconnect()
      await child.stop('SIGKILL')
    }
  }
}

export interface EmulatorProcess {
  readonly url: string
  readonly appKey: string
  readonly appSecret: string
  readonly child: Child
  /** POST/DELETE/GET on the emulator's control API (`/_emulator/...`). */
  control: <T = unknown>(method: string, path: string, body?: unknown) => Promise<T>
  stop: () => Promise<void>
}

/** The emulator as its own process, built like the broker (`node dist/emulator/main.js`), signing strictly as in the tests. */
export async function startEmulator (name = 'emulator'): Promise<EmulatorProcess> {
  const port = await freePort()
  const appKey = 'benchappkey01'
  const appSecret = `benchsecret${port}`
  const child = spawnChild(name, process.execPath, ['dist/emulator/main.js'], {
    EMULATOR_PORT: String(port), EMULATOR_HOST: HOST, EMULATOR_APP_KEY: appKey, EMULATOR_APP_SECRET: appSecret, EMULATOR_STRICT: 'true'
  })
  const url = `http://${HOST}:${port}`
  await waitForHttp(`${url}/_emulator/health`, child)
  const control = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${url}/_emulator${path}`, {
      method,
      signal: AbortSignal.timeout(10_000),
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    })
    if (!res.ok) throw new Error(`emulator ${method} ${path}: HTTP ${res.status} ${await res.text()}`)
    return await res.json() as T
  }
  return { url, appKey, appSecret, child, control, stop: async () => { await child.stop() } }
}

export interface HttpServerProcess {
  readonly url: string
  readonly child: Child
  stop: () => Promise<void>
}

export interface ServerStartOptions {
  /** Write a V8 CPU profile into this directory (on a clean exit). */
  cpuProfileDir?: string
  /** Open the V8 inspector on this loopback port (for a forced GC: `heapAfterGc`). */
  inspectPort?: number
  /** Node flags; the broker gets the chart's (`NODE_OPTIONS`) unless told otherwise. */
  nodeFlags?: string[]
}

function nodeFlags (name: string, options: ServerStartOptions): string[] {
  return [
    ...(options.nodeFlags ?? []),
    ...(options.inspectPort === undefined ? [] : [`--inspect=${HOST}:${options.inspectPort}`]),
    ...(options.cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`, `--cpu-prof-name=${name}.cpuprofile`])
  ]
}

/** The broker exactly as the chart runs it: `node dist/server.js` with its Node flags, configured by environment only. */
export async function startBroker (name: string, env: Record<string, string>, options: ServerStartOptions = {}): Promise<HttpServerProcess> {
  const port = await freePort()
  const child = spawnChild(name, process.execPath, [...nodeFlags(name, { nodeFlags: chartNodeFlags(), ...options }), 'dist/server.js'], { ...env, NODE_ENV: 'production', PORT: String(port), HOST })
  const url = `http://${HOST}:${port}`
  await waitForHttp(`${url}/livez`, child)
  return { url, child, stop: async () => { await child.stop() } }
}

/** The bare Fastify reference: one route answering `body` (same process model as the broker). */
export async function startReference (name: string, body: unknown, options: ServerStartOptions = {}): Promise<HttpServerProcess> {
  const port = await freePort()
  const child = spawnChild(name, process.execPath, [...nodeFlags(name, options), 'bench/reference/server.ts'], {
    NODE_ENV: 'production', PORT: String(port), REFERENCE_BODY: JSON.stringify(body)
  })
  const url = `http://${HOST}:${port}`
  await waitForHttp(`${url}/livez`, child)
  return { url, child, stop: async () => { await child.stop() } }
}

/** Resident set size and its peak of a child, from /proc (Linux). */
export function memoryOf (pid: number): { rssMiB: number, peakRssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux, 100 ticks/s). */
export function cpuSecondsOf (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

export interface Backends {
  redis: RedisProcess
  emulator: EmulatorProcess
  /** Registers another process (a broker) to be stopped with the rest; returns it. */
  track: <P extends { stop: () => Promise<void> }>(process: P) => P
}

/**
 * Runs a scenario against a fresh Redis and emulator. Everything started here or registered with
 * `track` is stopped afterwards, newest first, also when the scenario fails.
 */
export async function withBackends<T> (scenario: (backends: Backends) => Promise<T>): Promise<T> {
  const started: Array<{ stop: () => Promise<void> }> = []
  const track = <P extends { stop: () => Promise<void> }>(process: P): P => {
    started.push(process)
    return process
  }
  try {
    const redis = track(await startRedis())
    const emulator = track(await startEmulator())
    return await scenario({ redis, emulator, track })
  } finally {
    for (const process of started.reverse()) await process.stop()
  }
}
