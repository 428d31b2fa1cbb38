/**
 * Health of the configured API domains (primary first). A domain that fails an attempt is demoted
 * for a cool-off period, so later calls start on the next one instead of paying the failure again.
 * When the cool-off ends, ONE call at a time tries the demoted domain first (a probe made by real
 * traffic, so no quota is spent on synthetic requests); a success restores it, a failure starts a
 * new cool-off. One log line per state change, never per attempt.
 */
import type { Logger } from 'pino'

export type DomainState = 'healthy' | 'demoted'

interface Domain {
  readonly url: string
  /** Logged and reported: scheme, host and port, no path. */
  readonly label: string
  state: DomainState
  /** While demoted: when the domain may be probed again. */
  coolOffUntil: number
  /** A call currently holds the right to probe this demoted domain. */
  probing: boolean
}

export interface DomainsOptions {
  coolOffMs: number
  now: () => number
  logger: Logger
  onChange?: (label: string, state: DomainState) => void
}

/** Returned by `plan()`: call `done()` when the call ends, so an unused probe right is handed back. */
export interface DomainPlan {
  order: number[]
  done: () => void
}

export class DomainSet {
  readonly #domains: Domain[]
  readonly #opts: DomainsOptions

  constructor (urls: readonly string[], opts: DomainsOptions) {
    if (urls.length === 0) throw new Error('Nexconn client: at least one API URL is required')
    this.#opts = opts
    this.#domains = urls.map((url) => ({ url, label: labelOf(url), state: 'healthy', coolOffUntil: 0, probing: false }))
  }

  get size (): number {
    return this.#domains.length
  }

  url (index: number): string {
    return this.#at(index).url
  }

  label (index: number): string {
    return this.#at(index).label
  }

  /**
   * The order in which one call should try the domains: healthy ones and a due probe in configured
   * order, then the demoted ones (still tried: a demoted domain beats no domain).
   */
  plan (): DomainPlan {
    const now = this.#opts.now()
    const first: number[] = []
    const last: number[] = []
    const probes: Domain[] = []
    this.#domains.forEach((domain, index) => {
      if (domain.state === 'healthy') {
        first.push(index)
      } else if (!domain.probing && now >= domain.coolOffUntil) {
        domain.probing = true
        probes.push(domain)
        first.push(index)
      } else {
        last.push(index)
      }
    })
    let released = false
    return {
      order: [...first, ...last],
      done: () => {
        if (released) return
        released = true
        for (const domain of probes) domain.probing = false
      }
    }
  }

  succeeded (index: number): void {
    const domain = this.#at(index)
    domain.probing = false
    if (domain.state === 'healthy') return
    domain.state = 'healthy'
    this.#opts.logger.info({ domain: domain.label }, 'nexconn domain restored')
    this.#opts.onChange?.(domain.label, 'healthy')
  }

  failed (index: number, outcome: string): void {
    const domain = this.#at(index)
    domain.probing = false
    domain.coolOffUntil = this.#opts.now() + this.#opts.coolOffMs
    if (domain.state === 'demoted') return
    domain.state = 'demoted'
    this.#opts.logger.warn({ domain: domain.label, outcome, coolOffMs: this.#opts.coolOffMs }, 'nexconn domain demoted')
    this.#opts.onChange?.(domain.label, 'demoted')
  }

  snapshot (): Array<{ url: string, state: DomainState }> {
    return this.#domains.map((domain) => ({ url: domain.url, state: domain.state }))
  }

  primaryDemoted (): boolean {
    return this.#at(0).state === 'demoted'
  }

  #at (index: number): Domain {
    const domain = this.#domains[index]
    if (domain === undefined) throw new Error(`BUG: no Nexconn domain ${index}`)
    return domain
  }
}

/** Origin of a base URL: bounded, and free of any path an operator may have put there. */
export function labelOf (url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return 'invalid-url'
  }
}
