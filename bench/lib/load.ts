/**
 * One load run with autocannon's API: `POST /v1/token`, each request carrying the next JWT of a
 * list (so N tokens = N distinct users, in a cycle), no body. Every response time is kept, so
 * percentiles are exact and can be pooled across rounds; CPU use of the load generator (this
 * process) and of the server is measured beside, to tell a saturated client from a slow server.
 */
import { performance } from 'node:perf_hooks'
import autocannon, { type RequestSpec, type Result } from 'autocannon'
import { cpuSecondsOf } from './processes.ts'

export interface LoadOptions {
  url: string
  tokens: readonly string[]
  connections: number
  /** Seconds; ignored when `amount` is set. */
  durationS?: number
  /** Stop after this many responses. */
  amount?: number
  /** Open loop: offer this many requests per second in total instead of as many as the server takes. */
  ratePerS?: number
  /** Per-request timeout, seconds (autocannon's default is 10). */
  timeoutS?: number
  /** The server's pid, to report its CPU use. */
  serverPid?: number
  /** Sees every response body (costs the load generator time: for small runs only). */
  onBody?: (status: number, body: string) => void
}

export interface LoadResult {
  requests: number
  ok: number
  /** Responses other than 2xx, connection errors, timeouts and requests left without any answer. */
  failed: number
  /**
   * With `amount`: requests that never got a response because the server closed the connection
   * (autocannon then reconnects, finds its quota of requests made, and stops without counting an error).
   */
  lost: number
  statusCounts: Record<string, number>
  errors: number
  timeouts: number
  durationS: number
  rps: number
  /** Every response time (ms), sorted ascending. */
  latencies: Float64Array
  /** CPU used during the run, in % of one core. */
  loadgenCpuPct: number
  serverCpuPct: number
  /** CPU seconds the server used during the run (NaN without `serverPid`). */
  serverCpuS: number
}

export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const { tokens } = options
  if (tokens.length === 0) throw new Error('runLoad needs at least one token')
  let next = 0
  // Called by autocannon before each request: the next user's JWT, round-robin over the list.
  const setupRequest = (request: RequestSpec): RequestSpec => {
    const token = tokens[next++ % tokens.length] ?? ''
    return { ...request, headers: { authorization: `Bearer ${token}` } }
  }
  const latencies: number[] = []
  let ok = 0
  const statusCounts: Record<string, number> = {}

  const cpuBefore = process.cpuUsage()
  const serverCpuBefore = options.serverPid === undefined ? NaN : cpuSecondsOf(options.serverPid)
  const startedAt = performance.now()
  const result = await new Promise<Result>((resolve, reject) => {
    const instance = autocannon({
      url: `${options.url}/v1/token`,
      connections: options.connections,
      ...(options.amount === undefined ? { duration: options.durationS ?? 10 } : { amount: options.amount }),
      ...(options.ratePerS === undefined ? {} : { overallRate: options.ratePerS }),
      timeout: options.timeoutS ?? 10,
      requests: [{
        method: 'POST',
        path: '/v1/token',
        setupRequest,
        ...(options.onBody === undefined ? {} : { onResponse: options.onBody })
      }]
    }, (err, res) => { if (err === null) resolve(res); else reject(err) })
    instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime)
      statusCounts[status] = (statusCounts[status] ?? 0) + 1
      if (status >= 200 && status < 300) ok++
    })
  })
  const wallS = (performance.now() - startedAt) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  const serverCpu = options.serverPid === undefined ? NaN : cpuSecondsOf(options.serverPid) - serverCpuBefore

  const requests = latencies.length
  const lost = options.amount === undefined ? 0 : Math.max(0, options.amount - requests - result.errors)
  return {
    requests,
    ok,
    failed: requests - ok + result.errors + lost,
    lost,
    statusCounts,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
    rps: requests / result.duration,
    latencies: Float64Array.from(latencies).sort(),
    loadgenCpuPct: ((cpu.user + cpu.system) / 1e6 / wallS) * 100,
    serverCpuPct: (serverCpu / wallS) * 100,
    serverCpuS: serverCpu
  }
}

/** The p-th percentile (0–100) of sorted values, nearest-rank. */
export function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? NaN
}

/** Sorted union of several runs' response times (percentiles over all measured rounds). */
export function pooledLatencies (runs: readonly LoadResult[]): Float64Array {
  const all = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0))
  let offset = 0
  for (const run of runs) {
    all.set(run.latencies, offset)
    offset += run.latencies.length
  }
  return all.sort()
}

/** The figures of a run worth keeping in the JSON report (not the raw samples). */
export function summary (run: LoadResult): Record<string, number | Record<string, number>> {
  return {
    requests: run.requests,
    ok: run.ok,
    failed: run.failed,
    lost: run.lost,
    errors: run.errors,
    timeouts: run.timeouts,
    durationS: round(run.durationS, 2),
    rps: Math.round(run.rps),
    p50Ms: round(percentile(run.latencies, 50), 2),
    p99Ms: round(percentile(run.latencies, 99), 2),
    maxMs: round(run.latencies[run.latencies.length - 1] ?? NaN, 2),
    loadgenCpuPct: Math.round(run.loadgenCpuPct),
    serverCpuPct: Math.round(run.serverCpuPct),
    serverCpuUsPerRequest: round((run.serverCpuS / run.requests) * 1e6, 1),
    statusCounts: run.statusCounts
  }
}

export function round (value: number, digits = 0): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
