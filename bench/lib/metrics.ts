/**
 * A broker's own account of a run, scraped from its Prometheus endpoint (`GET /metrics` on the API
 * port): how requests were served (memory hit, store hit, issued…), store errors, event-loop lag
 * and heap. Only for the report's details; a broker without the endpoint yields `{}`.
 */
const WANTED = [
  'ctb_token_requests_total',
  'ctb_token_errors_total',
  'ctb_cache_store_errors_total',
  'ctb_jwt_verifications_total',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_gc_duration_seconds_sum',
  'nodejs_gc_duration_seconds_count'
]

export async function scrapeMetrics (baseUrl: string): Promise<Record<string, number>> {
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })
    if (!res.ok) return {}
    const out: Record<string, number> = {}
    for (const line of (await res.text()).split('\n')) {
      const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+|NaN)$/.exec(line)
      if (match === null || !WANTED.includes(match[1] ?? '')) continue
      // Sums over labels we do not care about (e.g. GC kind), keeps the ones we do (outcome, code).
      const labels = (match[2] ?? '').replace(/,?kind="[^"]*"/, '').replace('{}', '')
      const key = `${match[1]}${labels}`
      out[key] = (out[key] ?? 0) + Number(match[3])
    }
    return out
  } catch {
    return {}
  }
}
