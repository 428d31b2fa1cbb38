/**
 * Load generators that leave the CPU to the servers they measure, each run as its own process
 * whose CPU use is reported beside the results:
 *
 * - closed loop: wrk (C, one thread; Debian's package, installed when missing), every request
 *   `POST /v1/token` with the next user's JWT (wrk-tokens.lua), as fast as the server answers;
 * - open loop: `open-loop.c` (compiled here with the machine's C compiler), requests sent on a
 *   fixed schedule whatever the answers, latency counted from when each request was due (so a
 *   server pause shows in full, not hidden by the generator waiting for it). An earlier generator
 *   in Node (undici, 1 ms timer ticks) put a floor of several milliseconds under every p99.
 *
 * autocannon in the harness process shared the two cores with the servers and capped bare Fastify
 * well below what it serves, which flattered every ratio (docs/benchmarks.md).
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cpuSecondsOf } from './processes.ts'

const LUA = fileURLToPath(new URL('./wrk-tokens.lua', import.meta.url))
const OPEN_LOOP_SOURCE = fileURLToPath(new URL('./open-loop.c', import.meta.url))

/** What one round measured, from the generator's and the server's side. */
export interface Round {
  requests: number
  /** Non-2xx answers, connection errors and timeouts. */
  failed: number
  durationS: number
  rps: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
  /** CPU the load generator used, in % of one core. */
  loadgenCpuPct: number
  /** CPU the server used, in % of one core, and per request. */
  serverCpuPct: number
  serverCpuUsPerRequest: number
}

export interface LoadTarget {
  url: string
  /** The server's pid, for its CPU use. */
  pid: number
}

/** Writes the JWTs where the generators read them: one per line. */
export function writeTokens (dir: string, name: string, tokens: readonly string[]): string {
  const file = join(dir, `${name}.tokens`)
  writeFileSync(file, `${tokens.join('\n')}\n`)
  return file
}

/** The path of wrk, installed from Debian's package when missing (as root). */
export function ensureWrk (): string {
  const found = which('wrk')
  if (found !== undefined) return found
  if (process.getuid?.() === 0 && which('apt-get') !== undefined) {
    execFileSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    const installed = which('wrk')
    if (installed !== undefined) return installed
  }
  throw new Error('wrk is needed for the hit path (apt-get install wrk)')
}

let openLoopBinary: string | undefined

/** The open-loop generator, compiled once per bench process into a private directory. */
export function ensureOpenLoop (): string {
  if (openLoopBinary !== undefined) return openLoopBinary
  const cc = which('cc') ?? which('gcc')
  if (cc === undefined) throw new Error('a C compiler is needed for the open-loop generator (apt-get install gcc)')
  const binary = join(mkdtempSync(join(tmpdir(), 'ctb-open-loop-')), 'open-loop')
  execFileSync(cc, ['-O2', '-Wall', '-o', binary, OPEN_LOOP_SOURCE], { stdio: 'inherit' })
  openLoopBinary = binary
  return binary
}

function which (command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** Runs a command in a shell that then prints `times`: the children's CPU, whatever the command is. */
async function runMeasured (command: string, args: string[]): Promise<{ stdout: string, cpuS: number, wallS: number }> {
  const started = process.hrtime.bigint()
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', ['-c', '"$@"; status=$?; times; exit $status', 'bash', command, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.once('error', reject)
    child.once('exit', (code) => { if (code === 0) resolve(out); else reject(new Error(`${command} exited with ${code}:\n${out}`)) })
  })
  const wallS = Number(process.hrtime.bigint() - started) / 1e9
  // `times` prints the shell's user and system time, then its children's: "0m1.234s 0m0.567s".
  const childLine = stdout.trimEnd().split('\n').at(-1) ?? ''
  const cpuS = [...childLine.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0)
  return { stdout, cpuS, wallS }
}

interface Reported { requests: number, failed: number, durationS: number, p50: number, p90: number, p99: number, p999: number, max: number, unit: 'us' | 'ms' }

function round (target: LoadTarget, reported: Reported, loadgen: { cpuS: number, wallS: number }, serverCpuS: number): Round {
  const ms = reported.unit === 'us' ? 1 / 1000 : 1
  return {
    requests: reported.requests,
    failed: reported.failed,
    durationS: reported.durationS,
    rps: reported.requests / reported.durationS,
    p50Ms: reported.p50 * ms,
    p90Ms: reported.p90 * ms,
    p99Ms: reported.p99 * ms,
    p999Ms: reported.p999 * ms,
    maxMs: reported.max * ms,
    loadgenCpuPct: (loadgen.cpuS / loadgen.wallS) * 100,
    serverCpuPct: (serverCpuS / reported.durationS) * 100,
    serverCpuUsPerRequest: reported.requests === 0 ? NaN : (serverCpuS / reported.requests) * 1e6
  }
}

function lastJson (stdout: string): Record<string, number> {
  const line = stdout.split('\n').reverse().find((l) => l.startsWith('{'))
  if (line === undefined) throw new Error(`no result line in:\n${stdout}`)
  return JSON.parse(line) as Record<string, number>
}

/** A closed-loop round: `connections` connections, each sending its next request as soon as the last is answered. */
export async function closedLoop (target: LoadTarget, options: { tokensFile: string, connections: number, durationS: number }): Promise<Round> {
  const wrk = ensureWrk()
  const before = cpuSecondsOf(target.pid)
  const run = await runMeasured(wrk, ['-t1', `-c${options.connections}`, `-d${options.durationS}s`, '--timeout', '10s', '-s', LUA, target.url, '--', options.tokensFile])
  const serverCpuS = cpuSecondsOf(target.pid) - before
  const r = lastJson(run.stdout)
  const n = (key: string): number => r[key] ?? 0
  return round(target, {
    requests: n('requests'),
    failed: n('connectErrors') + n('readErrors') + n('writeErrors') + n('non2xx') + n('timeouts'),
    durationS: n('durationUs') / 1e6,
    p50: n('p50'),
    p90: n('p90'),
    p99: n('p99'),
    p999: n('p999'),
    max: n('max'),
    unit: 'us'
  }, run, serverCpuS)
}

/** An open-loop round: `ratePerS` requests per second on a fixed schedule, for `durationS`. */
export async function openLoop (target: LoadTarget, options: { tokensFile: string, connections: number, durationS: number, ratePerS: number }): Promise<Round> {
  const generator = ensureOpenLoop()
  const { hostname, port } = new URL(target.url)
  const before = cpuSecondsOf(target.pid)
  const run = await runMeasured(generator, [hostname, port, options.tokensFile, String(options.connections), String(options.durationS), String(options.ratePerS)])
  const serverCpuS = cpuSecondsOf(target.pid) - before
  const r = lastJson(run.stdout)
  const n = (key: string): number => r[key] ?? 0
  return round(target, {
    requests: n('requests'),
    failed: n('failed'),
    durationS: n('durationS'),
    p50: n('p50'),
    p90: n('p90'),
    p99: n('p99'),
    p999: n('p999'),
    max: n('max'),
    unit: 'ms'
  }, run, serverCpuS)
}

/** Median and spread of one figure over rounds. */
export interface Spread { median: number, min: number, max: number }

export function spread (values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[middle] ?? NaN : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2
  return { median, min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN }
}
