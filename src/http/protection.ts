/**
 * Protections every route shares: security headers for a JSON API, CORS for browser clients,
 * and load shedding while the event loop lags (`load-shedding.ts`). Their hooks run before any
 * other plugin's, so a shed or limited answer still carries them.
 */
import cors from '@fastify/cors'
import fp from 'fastify-plugin'
import helmet from 'helmet'
import type { Config } from '../config.ts'
import loadShedding from './load-shedding.ts'

/**
 * The security headers, computed once by helmet. They never vary per request, and running
 * helmet's middleware chain on every request was measured at ~8 % of a cache hit's CPU.
 * A JSON API loads nothing; the docs UI sets its own, wider policy on its own routes.
 */
export function securityHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = value },
    removeHeader: (name: string) => { Reflect.deleteProperty(headers, name.toLowerCase()) }
  }
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true }
  })({} as never, response as never, () => {})
  return headers
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const headers = securityHeaders()
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })

  const origins = config.ops.corsOrigins
  if (origins === '*' || origins.length > 0) {
    await app.register(cors, {
      origin: origins === '*' ? '*' : origins,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-ID'],
      exposedHeaders: ['X-Request-ID', 'Retry-After', 'WWW-Authenticate'],
      maxAge: 600,
      // Headers are set in onRequest, so error responses carry them too: a browser can read a 401.
      hook: 'onRequest'
    })
  }

  if (config.server.maxEventLoopDelayMs > 0) {
    await app.register(loadShedding, { maxEventLoopDelayMs: config.server.maxEventLoopDelayMs })
  }
}, { name: 'protection' })
