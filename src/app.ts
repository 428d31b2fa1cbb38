/**
 * Builds the broker as a Fastify instance. Never listens: `server.ts` owns the process, and
 * tests talk to the app through `inject()`.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { AccessLog } from './http/access-log.ts'
import { errorHandler, notFoundHandler, Problem } from './http/problems.ts'
import readiness from './http/readiness.ts'
import { requestLogger } from './http/request-logger.ts'
import { createLogger } from './logger.ts'
import authPlugin from './auth/plugin.ts'
import guard from './http/guard.ts'
import openapi, { DOCS_PREFIX } from './http/openapi.ts'
import protection from './http/protection.ts'
import { Metrics } from './metrics/metrics.ts'
import metricsPlugin from './metrics/plugin.ts'
import redisPlugin from './redis/plugin.ts'
import adminRoutes from './routes/admin.ts'
import healthRoutes from './routes/health.ts'
import tokenRoutes, { TokenResponse } from './routes/token.ts'
import tokensPlugin from './tokens/plugin.ts'
import webhookRoutes from './routes/webhooks.ts'

export interface BuildOptions {
  /** A ready pino logger (tests pass one writing to a stream they inspect). */
  logger?: Logger
  /** The metrics registry; `server.ts` shares it with the separate METRICS_PORT server. */
  metrics?: Metrics
}

/** Small bodies only: the largest legitimate body is an admin revoke of 1,000 user ids. */
export const BODY_LIMIT_BYTES = 96 * 1024

const NoQuery = Type.Object({}, { additionalProperties: false })

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/

/** Reuses a caller's X-Request-ID when it is sane, so a login can be traced end to end. */
export function requestIdFor (req: IncomingMessage): string {
  const header = req.headers['x-request-id']
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

/** Fastify takes a hop count as a function (proxy-addr semantics: trust the nearest N hops). */
function trustProxyOption (value: Config['server']['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address, hop) => hop < value : value
}

/** The app's type, with the TypeBox provider so route handlers see typed bodies. */
export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>

export async function buildApp (config: Config, options: BuildOptions = {}): Promise<App> {
  const app = Fastify({
    loggerInstance: (options.logger ?? createLogger(config.server.logLevel)) as FastifyBaseLogger,
    genReqId: requestIdFor,
    logController: new AccessLog(),
    childLoggerFactory: requestLogger,
    trustProxy: trustProxyOption(config.server.trustProxy),
    bodyLimit: BODY_LIMIT_BYTES,
    // Timeouts set on purpose (Node's defaults suit browsers, not an API behind a balancer):
    // a whole request (slow clients included) gets the Nexconn deadline plus a margin; the socket
    // inactivity timeout must outlast it, or a request waiting on Nexconn or its quota would be
    // cut off unanswered; keep-alive outlives typical proxy idle timeouts.
    requestTimeout: config.nexconn.deadlineMs + 5_000,
    connectionTimeout: config.nexconn.deadlineMs + 10_000,
    keepAliveTimeout: 72_000,
    // Requests that arrive while closing get our own problem body (protection.ts).
    return503OnClosing: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  // JSON only: Fastify's default text/plain parser would turn a wrong content type into a schema error.
  app.removeContentTypeParser('text/plain')
  app.addSchema(Problem)
  app.addSchema(TokenResponse)
  app.decorateRequest('problemCode', undefined)
  app.decorateRequest('outcome', undefined)
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler(notFoundHandler)
  if (config.server.trustProxy === true) {
    app.log.warn('TRUST_PROXY=true trusts every X-Forwarded-For hop: a client can pick its own address. Behind one ingress or load balancer, set TRUST_PROXY=1 (or the proxies\' addresses).')
  }
  // Every route refuses query parameters it does not declare (400 invalid_request), as the README
  // says, unless it declares its own; the docs UI's static files are not ours to describe.
  app.addHook('onRoute', (route) => {
    if (route.schema?.querystring === undefined && !route.url.startsWith(DOCS_PREFIX)) route.schema = { ...route.schema, querystring: NoQuery }
  })
  const metrics = options.metrics ?? new Metrics()
  await app.register(metricsPlugin, { metrics, serveOnApiPort: config.server.metricsPort === undefined })
  await app.register(readiness)
  app.addHook('preClose', async () => { app.readiness.beginClosing() })
  await app.register(protection, { config })
  await app.register(openapi, { docsEnabled: config.server.docsEnabled })
  // While shutting down, every response closes its connection: keep-alive clients reconnect,
  // through their load balancer, to a replica that stays, and close() is not held open.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (app.readiness.shuttingDown) reply.header('connection', 'close')
    done(null, payload)
  })
  app.readiness.register('config', { critical: true, status: () => 'ok' })
  await app.register(authPlugin, { config: config.jwt, hooks: metrics.authHooks() })
  // Ready once any identity provider can verify; with several, each one's key state shows too.
  app.readiness.register('keys', { critical: true, status: () => app.auth.ready() ? 'ok' : 'loading' })
  const providers = app.auth.providerStates()
  if (providers.length > 1) {
    providers.forEach(({ label }, index) => {
      app.readiness.register(`issuer:${label}`, { critical: false, status: () => app.auth.providerStates()[index]?.ready === true ? 'ok' : 'loading' })
    })
  }
  await app.register(redisPlugin, { config: config.redis })
  app.redis?.onStateChange((state) => { metrics.redisUp.set(state === 'ready' ? 1 : 0) })
  app.replicas?.onChange((view) => { metrics.replicas.set(view.replicas) })
  await app.register(tokensPlugin, { config, hooks: metrics.tokenHooks(), nexconnHooks: metrics.nexconnHooks((url) => new URL(url).host) })
  await app.register(guard, { config })

  await app.register(healthRoutes)
  await app.register(tokenRoutes, { config })
  if (config.adminApiKey !== undefined) await app.register(adminRoutes, { adminApiKey: config.adminApiKey })
  if (config.ops.webhook.enabled) {
    await app.register(webhookRoutes, {
      config: config.ops.webhook,
      appKey: config.nexconn.appKey,
      appSecret: config.nexconn.appSecret,
      keyPrefix: config.redis?.keyPrefix ?? '',
      onRefused: (reason) => { metrics.webhookRefusals.inc({ reason }) }
    })
  }

  return app
}
