/**
 * Prometheus metrics. Every label value comes from a small fixed set (routes, outcomes, codes,
 * configured domains); a user id, token, key id or claim is never a label, so cardinality stays
 * bounded whatever the traffic.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { AuthHooks } from '../auth/index.ts'
import type { NexconnHooks } from '../nexconn/index.ts'
import type { TokenHooks } from '../tokens/service.ts'

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Reasons and outcomes are our own strings; anything unexpected is folded into `other`. */
const SAFE_LABEL = /^[a-z0-9_]{1,40}$/

function safe (value: string | number | undefined): string {
  const text = String(value ?? 'none')
  return SAFE_LABEL.test(text) ? text : 'other'
}

/**
 * The label object of each value of one label, checked and built once: hooks on the hit path (one
 * verification outcome and one token outcome per request) then pay a map lookup, not a regular
 * expression and an allocation. Values come from small fixed sets; past the bound they are built
 * per call.
 */
function labelsFor<K extends string> (name: K): (value: string) => Record<K, string> {
  const made = new Map<string, Record<K, string>>()
  return (value) => {
    let labels = made.get(value)
    if (labels === undefined) {
      labels = { [name]: safe(value) } as Record<K, string>
      if (made.size < 64) made.set(value, labels)
    }
    return labels
  }
}

export class Metrics {
  readonly registry = new Registry()
  readonly httpDuration = new Histogram({ name: 'ctb_http_request_duration_seconds', help: 'HTTP request duration by route and status class.', labelNames: ['method', 'route', 'status_class'], buckets: LATENCY_BUCKETS, registers: [this.registry] })
  readonly tokenRequests = new Counter({ name: 'ctb_token_requests_total', help: 'Token requests by outcome: memory_hit, store_hit, issued, refreshed, waited (single flight), refreshed_ahead, force_refresh_throttled, or error.', labelNames: ['outcome'], registers: [this.registry] })
  readonly tokenErrors = new Counter({ name: 'ctb_token_errors_total', help: 'Failed token requests by error code.', labelNames: ['code'], registers: [this.registry] })
  readonly nexconnDuration = new Histogram({ name: 'ctb_nexconn_call_duration_seconds', help: 'Nexconn attempts by endpoint, domain, outcome and business code (a code the broker knows, other, or none).', labelNames: ['endpoint', 'domain', 'outcome', 'business_code'], buckets: LATENCY_BUCKETS, registers: [this.registry] })
  readonly quotaWait = new Histogram({ name: 'ctb_nexconn_quota_wait_seconds', help: 'Time calls waited for the Nexconn quota, by endpoint and whether they were admitted.', labelNames: ['endpoint', 'admitted'], buckets: LATENCY_BUCKETS, registers: [this.registry] })
  readonly domainHealthy = new Gauge({ name: 'ctb_nexconn_domain_healthy', help: '1 while a Nexconn domain is healthy, 0 while it is demoted.', labelNames: ['domain'], registers: [this.registry] })
  readonly decryptFailures = new Counter({ name: 'ctb_cache_decrypt_failures_total', help: 'Cached tokens that failed to decrypt (tampered, moved or sealed by an unknown key) and were dropped.', registers: [this.registry] })
  readonly storeErrors = new Counter({ name: 'ctb_cache_store_errors_total', help: 'Cache store operations that failed or were skipped while Redis was unavailable.', registers: [this.registry] })
  readonly jwksFetches = new Counter({ name: 'ctb_jwks_fetches_total', help: 'JWKS fetches by result.', labelNames: ['result'], registers: [this.registry] })
  readonly jwtVerifications = new Counter({ name: 'ctb_jwt_verifications_total', help: 'JWT verifications by outcome: ok, cached, or the rejection reason.', labelNames: ['outcome'], registers: [this.registry] })
  readonly webhookRefusals = new Counter({ name: 'ctb_webhook_refusals_total', help: 'Webhook calls refused, by reason: missing_parameter, malformed_parameter, app_key_mismatch, bad_signature, stale, future, replayed.', labelNames: ['reason'], registers: [this.registry] })
  readonly redisUp = new Gauge({ name: 'ctb_redis_up', help: '1 while Redis is connected, 0 while not (absent without Redis).', registers: [this.registry] })
  readonly replicas = new Gauge({ name: 'ctb_replicas', help: 'Live broker replicas sharing this Redis, as counted by heartbeats (the last count while Redis is unreachable; absent without Redis).', registers: [this.registry] })

  constructor () {
    collectDefaultMetrics({ register: this.registry })
  }

  authHooks (): AuthHooks {
    const verification = labelsFor('outcome')
    return {
      onJwksFetch: (result) => { this.jwksFetches.inc({ result: safe(result) }) },
      onVerify: (outcome) => { this.jwtVerifications.inc(verification(outcome)) }
    }
  }

  tokenHooks (): TokenHooks & { onDecryptFailure: () => void } {
    const outcomes = labelsFor('outcome')
    return {
      onOutcome: (outcome) => { this.tokenRequests.inc(outcomes(outcome)) },
      onStoreError: () => { this.storeErrors.inc() },
      onDecryptFailure: () => { this.decryptFailures.inc() }
    }
  }

  nexconnHooks (domainLabel: (url: string) => string): NexconnHooks {
    return {
      onAttempt: (e) => {
        this.nexconnDuration.observe({ endpoint: e.endpoint, domain: domainLabel(e.domain), outcome: safe(e.outcome), business_code: e.codeLabel }, e.durationMs / 1000)
      },
      onQuotaWait: (e) => { this.quotaWait.observe({ endpoint: e.endpoint, admitted: String(e.admitted) }, e.waitedMs / 1000) },
      onDomainState: (e) => { this.domainHealthy.set({ domain: domainLabel(e.domain) }, e.state === 'healthy' ? 1 : 0) }
    }
  }
}
