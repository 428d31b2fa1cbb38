/**
 * Protections every route shares: security headers for a JSON API, CORS for browser clients,
 * and load shedding while the event loop lags (`load-shedding.ts`). Their hooks run before any
 * other plugin's, so a shed or limited answer still carries them.
 */
import cors from '@fastify/cors'
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import loadShedding from './load-shedding.ts'

/**
 * The security headers of a JSON API (OWASP REST Security Cheat Sheet): a response may not be
 * framed, sniffed into another type, or load anything, and clients stay on HTTPS. Nothing the API
 * answers is a web page, so the headers only documents act on (COOP, CORP, Referrer-Policy,
 * Origin-Agent-Cluster, X-XSS-Protection, X-DNS-Prefetch-Control, X-Download-Options,
 * X-Permitted-Cross-Domain-Policies) are not sent: they changed nothing for a JSON answer and cost
 * a measurable share of a cache hit (docs/benchmarks.md). The docs UI sets its own, wider policy.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY'
})

export default fp<{ config: Config }>(async (app, { config }) => {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(SECURITY_HEADERS)
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
