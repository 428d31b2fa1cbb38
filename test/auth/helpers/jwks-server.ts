/**
 * A JWKS endpoint on 127.0.0.1 that can serve, rotate, fail, hang, drip and count its hits; with
 * `discovery` set, also an OpenID Connect discovery document at `/.well-known/openid-configuration`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export type JwksMode = 'ok' | 'fail' | 'hang' | 'drip' | 'huge' | 'not_json' | 'redirect'

export class JwksServer {
  hits = 0
  mode: JwksMode = 'ok'
  keys: unknown[] = []
  /** When set, sent as ETag and honoured in If-None-Match. */
  etag: string | undefined
  notModified = 0
  /** Served at /.well-known/openid-configuration when set; `discoveryHits` counts its requests. */
  discovery: Record<string, unknown> | undefined
  discoveryHits = 0
  /** `http://127.0.0.1:<port>`: an issuer whose discovery document this server serves. */
  origin = ''
  readonly #server: Server
  readonly #open = new Set<ServerResponse>()
  url = ''

  private constructor () {
    this.#server = createServer((req, res) => { this.#handle(req, res) })
  }

  static async start (keys: unknown[] = []): Promise<JwksServer> {
    const server = new JwksServer()
    server.keys = keys
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve))
    server.origin = `http://127.0.0.1:${(server.#server.address() as AddressInfo).port}`
    server.url = `${server.origin}/.well-known/jwks.json`
    return server
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    if (this.discovery !== undefined && (req.url ?? '').endsWith('/.well-known/openid-configuration')) {
      this.discoveryHits++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.discovery))
      return
    }
    this.hits++
    this.#open.add(res)
    res.on('close', () => this.#open.delete(res))
    switch (this.mode) {
      case 'fail':
        res.writeHead(500).end('down')
        return
      case 'hang':
        return // never answers
      case 'redirect':
        res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end()
        return
      case 'not_json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>')
        return
      case 'huge':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys, pad: 'x'.repeat(400_000) }))
        return
      case 'drip': {
        res.writeHead(200, { 'content-type': 'application/json' })
        const timer = setInterval(() => res.write(' '), 100)
        res.on('close', () => clearInterval(timer))
        return
      }
      case 'ok': {
        if (this.etag !== undefined && req.headers['if-none-match'] === this.etag) {
          this.notModified++
          res.writeHead(304).end()
          return
        }
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (this.etag !== undefined) headers.etag = this.etag
        res.writeHead(200, headers).end(JSON.stringify({ keys: this.keys }))
      }
    }
  }

  async close (): Promise<void> {
    for (const res of this.#open) res.destroy()
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

/** A TCP listener that only counts connections: proof that nobody dialled it. */
export class ConnectionCounter {
  connections = 0
  readonly #server: NetServer
  readonly #sockets = new Set<Socket>()
  port = 0

  private constructor () {
    this.#server = createNetServer((socket) => {
      this.connections++
      this.#sockets.add(socket)
      socket.destroy()
    })
  }

  static async start (): Promise<ConnectionCounter> {
    const counter = new ConnectionCounter()
    await new Promise<void>((resolve) => counter.#server.listen(0, '127.0.0.1', resolve))
    counter.port = (counter.#server.address() as AddressInfo).port
    return counter
  }

  async close (): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

export async function waitFor (condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (condition()) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return condition()
}
