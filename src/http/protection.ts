/**
 * The front door every request passes: its request id and the security headers of a JSON API on
 * every response, CORS for browser clients, then admission — refused while the instance shuts down
 * or the event loop lags (`load-shedding.ts`). These hooks run before any other plugin's, so a shed,
 * refused or limited answer still carries the headers; they are two hooks (one each side of CORS),
 * not one per concern, because each hook costs a measurable share of a cache hit (docs/benchmarks.md).
 */
import cors from '@fastify/cors'
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { BrokerError } from '../errors.ts'
import { LoadShedder, OVERLOADED_RETRY_AFTER_S } from './load-shedding.ts'

/** Answered while shutting down: readiness itself reports the shutdown. */
const HEALTH = new Set(['/livez', '/readyz'])

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
  // First of all hooks, so every response carries them, whichever plugin answers (shedding, limits, 404…).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
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

  const shedder = config.server.maxEventLoopDelayMs > 0 ? new LoadShedder(config.server.maxEventLoopDelayMs) : undefined
  if (shedder !== undefined) {
    app.addHook('onReady', (done) => { shedder.ready(); done() })
    app.addHook('onClose', (_app, done) => { shedder.stop(); done() })
  }
  const { readiness } = app
  app.addHook('onRequest', (request, reply, done) => {
    if (readiness.closing && !HEALTH.has(request.url)) {
      reply.header('connection', 'close')
      done(new BrokerError('shutting_down', 'This instance is shutting down; retry, another one will answer.', { retryAfterS: 1 }))
      return
    }
    if (shedder?.sheds(request.url) === true) {
      done(new BrokerError('overloaded', 'The broker is overloaded; retry shortly.', { retryAfterS: OVERLOADED_RETRY_AFTER_S }))
      return
    }
    done()
  })
}, { name: 'protection', dependencies: ['readiness'] })
