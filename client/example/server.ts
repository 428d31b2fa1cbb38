/**
 * The example page's own web server, on its own origin (the broker is on another), for local
 * development only: it listens on loopback. Besides the page and the built client it plays the
 * app's sign-in backend: POST /demo/sign-in signs a demo JWT for a user name with the secret the
 * broker verifies, so a newcomer needs no identity provider and no copy-paste.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { signDemoJwt } from './demo-jwt.ts'

export interface ExampleServerOptions {
  /** Default 127.0.0.1: the demo sign-in must not be reachable from the network. */
  host?: string
  /** Default 0 (any free port). */
  port?: number
  /** The broker's URL as the browser reaches it (a function when it is known only later). */
  brokerUrl: string | (() => string)
  /** The broker's HS256 JWT_SECRET; without it the page offers only "paste a JWT". */
  jwtSecret?: string
  /** The built client package (default client/dist). */
  clientDir?: string
}

export interface ExampleServer {
  readonly url: string
  close: () => Promise<void>
}

const PAGE_DIR = fileURLToPath(new URL('.', import.meta.url))
const DEFAULT_CLIENT_DIR = fileURLToPath(new URL('../dist/', import.meta.url))
/** An allow-list, not a directory: nothing else on disk can be reached through this server. */
const PAGE_FILES: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8']
}
const CLIENT_FILE = /^\/lib\/([a-z][a-z0-9.-]*\.js)$/
const DEMO_USER = /^[A-Za-z0-9]{1,32}$/
const MAX_BODY_BYTES = 1024

function headers (brokerOrigin: string, type: string): Record<string, string> {
  return {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // The page may talk to itself and to the broker, nothing else.
    'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' ${brokerOrigin}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
  }
}

async function readSmallBody (request: IncomingMessage): Promise<string | undefined> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export async function startExampleServer (options: ExampleServerOptions): Promise<ExampleServer> {
  const brokerUrl = typeof options.brokerUrl === 'function' ? options.brokerUrl : () => options.brokerUrl as string
  const clientDir = options.clientDir ?? DEFAULT_CLIENT_DIR

  async function handle (request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://page').pathname
    const base = headers(new URL(brokerUrl()).origin, 'application/json')
    const json = (status: number, body: unknown): void => { response.writeHead(status, base).end(JSON.stringify(body)) }

    if (request.method === 'GET' && path === '/config.json') {
      json(200, { brokerUrl: brokerUrl(), demoSignIn: options.jwtSecret !== undefined })
      return
    }
    if (request.method === 'POST' && path === '/demo/sign-in') {
      if (options.jwtSecret === undefined) return json(404, { error: 'no demo sign-in: paste a JWT instead' })
      let user: unknown
      try {
        user = (JSON.parse(await readSmallBody(request) ?? '') as { user?: unknown }).user
      } catch { /* not JSON: refused below */ }
      if (typeof user !== 'string' || !DEMO_USER.test(user)) return json(400, { error: 'user: 1 to 32 letters or digits (a Nexconn user id)' })
      json(200, { jwt: signDemoJwt(options.jwtSecret, { sub: user, name: user }) })
      return
    }
    const page = PAGE_FILES[path]
    const clientFile = CLIENT_FILE.exec(path)?.[1]
    if (request.method === 'GET' && (page !== undefined || clientFile !== undefined)) {
      const [file, type] = page ?? [clientFile ?? '', 'text/javascript; charset=utf-8']
      try {
        const body = await readFile(join(page !== undefined ? PAGE_DIR : clientDir, file))
        response.writeHead(200, headers(new URL(brokerUrl()).origin, type)).end(body)
      } catch {
        json(404, { error: page !== undefined ? 'not found' : 'the client is not built: npm run build:client' })
      }
      return
    }
    json(404, { error: 'not found' })
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => { if (!response.headersSent) response.writeHead(500).end() })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve)
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}
