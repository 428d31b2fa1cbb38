/**
 * Injected failures. A fault matches by endpoint and port; the first matching fault (in the order they
 * were added) applies, and a fault with `times` expires after that many requests. Faults sit in front of
 * the service (like a load balancer or network misbehaving): they are applied before signature checks and
 * never register users or issue tokens — except wrong_user, which issues a real token to a different user.
 */
import type { FaultKind, FaultSpec } from './types.ts'

const KINDS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'latency', 'status', 'rate_limit', 'hang', 'drip', 'malformed', 'reset', 'wrong_user', 'business_error',
])

export const DEFAULT_LATENCY_MS = 1000
export const DEFAULT_DRIP_MS = 100
export const DEFAULT_FAULT_STATUS = 503
export const DEFAULT_FAULT_CODE = 1000

export interface ActiveFault {
  endpoint: string
  port: number | undefined
  kind: FaultKind
  ms: number
  status: number
  /** business_error only: the status replacing the code's usual one. */
  statusOverride: number | undefined
  code: number
  userId: string | undefined
  /** Requests left before expiry; Infinity until cleared. */
  remaining: number
}

function nonNegativeInt (value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`fault.${field} must be a non-negative integer`)
  }
  return value
}

/** Checks a spec from code or from the control API; throws TypeError with a readable message. */
export function normalizeFault (input: unknown): ActiveFault {
  if (typeof input !== 'object' || input === null) throw new TypeError('fault must be an object')
  const spec = input as Partial<Record<keyof FaultSpec, unknown>>
  if (typeof spec.kind !== 'string' || !KINDS.has(spec.kind as FaultKind)) {
    throw new TypeError(`fault.kind must be one of ${[...KINDS].join(', ')}`)
  }
  const kind = spec.kind as FaultKind
  if (spec.endpoint !== undefined && (typeof spec.endpoint !== 'string' || !(spec.endpoint === '*' || spec.endpoint.startsWith('/')))) {
    throw new TypeError("fault.endpoint must be '*' or a path starting with '/'")
  }
  const given = nonNegativeInt(spec.status, 'status')
  const status = given ?? DEFAULT_FAULT_STATUS
  if (kind === 'business_error' ? status < 200 || status > 599 : status < 500 || status > 599) {
    throw new TypeError(kind === 'business_error' ? 'fault.status must be an HTTP status from 200 to 599' : 'fault.status must be a 5xx status')
  }
  if (spec.userId !== undefined && (typeof spec.userId !== 'string' || spec.userId === '')) throw new TypeError('fault.userId must be a non-empty string')
  const code = nonNegativeInt(spec.code, 'code') ?? DEFAULT_FAULT_CODE
  if (code === 0 || code === 200) throw new TypeError('fault.code must be an error code, not a success code')
  const times = nonNegativeInt(spec.times, 'times')
  if (times === 0) throw new TypeError('fault.times must be at least 1')
  return {
    endpoint: (spec.endpoint as string | undefined) ?? '*',
    port: nonNegativeInt(spec.port, 'port'),
    kind,
    ms: nonNegativeInt(spec.ms, 'ms') ?? (kind === 'drip' ? DEFAULT_DRIP_MS : DEFAULT_LATENCY_MS),
    status,
    statusOverride: kind === 'business_error' ? given : undefined,
    code,
    userId: spec.userId as string | undefined,
    remaining: times ?? Infinity,
  }
}

export class FaultStore {
  #faults: ActiveFault[] = []

  add (spec: unknown): void {
    this.#faults.push(normalizeFault(spec))
  }

  clear (): void {
    this.#faults = []
  }

  /**
   * Takes the fault for this request, if any, consuming one use. wrong_user only makes sense where a
   * token is issued, so it is skipped (and not consumed) elsewhere; a fault for one user skips the others.
   */
  take (path: string, port: number, issuesTokens: boolean, userId: string | undefined): ActiveFault | undefined {
    const index = this.#faults.findIndex(
      (f) =>
        (f.endpoint === '*' || f.endpoint === path) &&
        (f.port === undefined || f.port === port) &&
        (f.userId === undefined || f.userId === userId) &&
        (f.kind !== 'wrong_user' || issuesTokens)
    )
    const fault = this.#faults[index]
    if (!fault) return undefined
    fault.remaining -= 1
    if (fault.remaining <= 0) this.#faults.splice(index, 1)
    return fault
  }
}
