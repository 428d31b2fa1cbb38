/**
 * Fastify plugin: `fastify.metrics`, the HTTP duration histogram, the token error counter, and
 * `GET /metrics` on the API port unless `METRICS_PORT` moves it to a port of its own
 * (see `server.ts`), so it need not be public.
 */
import fp from 'fastify-plugin'
import { Metrics } from './metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

export default fp<{ serveOnApiPort: boolean, metrics: Metrics }>(async (app, { serveOnApiPort, metrics }) => {
  app.decorate('metrics', metrics)

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    metrics.httpDuration.observe({ method: request.method, route, status_class: `${Math.floor(reply.statusCode / 100)}xx` }, reply.elapsedTime / 1000)
    if (route === '/v1/token' && request.method === 'POST' && request.problemCode !== undefined) {
      metrics.tokenRequests.inc({ outcome: 'error' })
      metrics.tokenErrors.inc({ code: request.problemCode })
    }
    done()
  })

  if (serveOnApiPort) {
    app.get('/metrics', { logLevel: 'warn', schema: { hide: true } }, async (_request, reply) => {
      return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
    })
  }
}, { name: 'metrics' })
