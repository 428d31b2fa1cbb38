/**
 * One listening port (a "domain" of the platform) that can be stopped and started again on the same port
 * number, which is how tests take the primary down and bring it back.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export class PortListener {
  #host: string
  #listener: RequestListener
  #server: Server | undefined
  /** The port asked for, replaced by the one the OS picked after the first listen (for port 0). */
  #port: number

  constructor (host: string, port: number, listener: RequestListener) {
    this.#host = host
    this.#port = port
    this.#listener = listener
  }

  get port (): number {
    return this.#port
  }

  get listening (): boolean {
    return this.#server !== undefined
  }

  async start (): Promise<void> {
    if (this.#server) return
    // A fresh server each time: a closed one would still carry the old connections' bookkeeping.
    const server = createServer(this.#listener)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: this.#host, port: this.#port }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.#port = (server.address() as AddressInfo).port
    this.#server = server
  }

  /** Stops accepting and destroys every open socket, hung and dripping ones included. */
  async stop (): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    await closed
  }
}

/** URL a local client can use; wildcard binds are reached through loopback. */
export function urlFor (host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return reachable.includes(':') ? `http://[${reachable}]:${port}` : `http://${reachable}:${port}`
}
