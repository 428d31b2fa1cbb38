/**
 * Readiness is a small registry: each component (JWKS keys, Redis, Nexconn) registers a check,
 * and `/readyz` reports them. A `critical` component that is not `ok` makes the broker unready;
 * a non-critical one only shows as `degraded` (the broker still serves, e.g. without Redis).
 */
import fp from 'fastify-plugin'

export type ComponentStatus = 'ok' | 'degraded' | 'loading' | 'disabled'

export interface ComponentCheck {
  /** When true, anything but `ok`/`disabled` makes `/readyz` answer 503. */
  critical: boolean
  status: () => ComponentStatus
}

export class Readiness {
  readonly #checks = new Map<string, ComponentCheck>()
  #shuttingDown = false
  #closing = false

  register (name: string, check: ComponentCheck): void {
    this.#checks.set(name, check)
  }

  /** Called on SIGTERM: from now on `/readyz` fails so load balancers stop sending traffic. */
  beginShutdown (): void {
    this.#shuttingDown = true
  }

  get shuttingDown (): boolean {
    return this.#shuttingDown
  }

  /** The app has begun closing: new requests are refused with `shutting_down`. */
  beginClosing (): void {
    this.#shuttingDown = true
    this.#closing = true
  }

  get closing (): boolean {
    return this.#closing
  }

  report (): { ready: boolean, components: Record<string, ComponentStatus> } {
    const components: Record<string, ComponentStatus> = {}
    let ready = !this.#shuttingDown
    for (const [name, check] of this.#checks) {
      const status = check.status()
      components[name] = status
      if (check.critical && status !== 'ok' && status !== 'disabled') ready = false
    }
    return { ready, components }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness
  }
}

export default fp(async (app) => {
  app.decorate('readiness', new Readiness())
}, { name: 'readiness' })
