/**
 * An open-loop load generator, run as its own process (wrk.ts starts it): `POST /v1/token` at a
 * constant rate, each request with the next user's JWT, sent when it is due whether or not the
 * earlier ones were answered (the way real clients arrive). Latency is counted from when a request
 * was due, not from when it could be sent, so a pause of the server is measured in full instead of
 * being hidden by the generator waiting for it (coordinated omission). Prints one JSON line.
 *
 *   node bench/lib/open-loop.ts '{"url":"http://127.0.0.1:8080","tokensFile":"…","connections":64,"durationS":10,"ratePerS":2000}'
 */
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'

interface Spec { url: string, tokensFile: string, connections: number, durationS: number, ratePerS: number }

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec
const tokens = readFileSync(spec.tokensFile, 'utf8').split('\n').filter((line) => line !== '').map((jwt) => `Bearer ${jwt}`)
const total = Math.round(spec.ratePerS * spec.durationS)
const pool = new Pool(spec.url, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 60_000 })
const latencies = new Float64Array(total)
let answered = 0
let failed = 0
let sent = 0
const inFlight: Array<Promise<void>> = []

function send (index: number, dueAt: number): Promise<void> {
  return pool.request({ method: 'POST', path: '/v1/token', headers: { authorization: tokens[index % tokens.length] ?? '' } }).then(
    async (res) => {
      await res.body.dump()
      if (res.statusCode < 200 || res.statusCode >= 300) failed++
      latencies[answered++] = performance.now() - dueAt
    },
    () => {
      failed++
      latencies[answered++] = performance.now() - dueAt
    }
  )
}

// Every connection opened and the code warm before the clock starts: connection set-up and the
// generator's own start-up are not the server's latency.
await Promise.all(Array.from({ length: spec.connections }, async (_, i) => {
  const res = await pool.request({ method: 'POST', path: '/v1/token', headers: { authorization: tokens[i % tokens.length] ?? '' } })
  await res.body.dump()
}))

const start = performance.now()
const intervalMs = 1000 / spec.ratePerS
while (sent < total) {
  // Everything due by now goes out at once; then a short sleep. A late tick sends its backlog
  // with the due times it had, so the generator's own delays count against it, not the server.
  const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1)
  while (sent < due) {
    inFlight.push(send(sent, start + sent * intervalMs))
    sent++
  }
  await sleep(1)
}
await Promise.all(inFlight)
const durationS = (performance.now() - start) / 1000
await pool.close()

const sorted = latencies.sort()
const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN
process.stdout.write(`${JSON.stringify({ requests: total, failed, durationS, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: sorted.at(-1) ?? NaN })}\n`)
