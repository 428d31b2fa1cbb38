/**
 * Liveness and readiness, kept separate as Kubernetes expects: `/livez` says the process can
 * answer (it touches no dependency, so a Redis outage never restarts pods); `/readyz` says
 * whether this replica should receive traffic.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const ComponentStatus = Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('loading'), Type.Literal('disabled')])

const ReadyBody = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready'), Type.Literal('shutting_down')]),
  components: Type.Record(Type.String(), ComponentStatus, { description: 'Per dependency: `ok`, `degraded` (working around a failure), `loading` or `disabled`.' }),
  replicas: Type.Optional(Type.Object({
    count: Type.Integer({ minimum: 1, description: 'Live replicas sharing this Redis (heartbeats), this one included.' }),
    source: Type.Union([Type.Literal('redis'), Type.Literal('last_known')], { description: '`last_known`: Redis is unreachable; the count from before, which divides the Nexconn quota meanwhile.' })
  }, { description: 'Present with Redis only.' }))
})

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/livez', {
    logLevel: 'warn',
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process is up. Touches no dependency.',
      response: { 200: Type.Object({ status: Type.Literal('ok') }) }
    }
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    logLevel: 'warn',
    schema: {
      tags: ['health'],
      summary: 'Readiness: this replica should receive traffic.',
      description: '503 while keys are not loaded (JWKS mode) or while shutting down. Redis and Nexconn trouble shows as `degraded` without failing readiness: the broker keeps serving from its in-process cache.',
      response: { 200: ReadyBody, 503: ReadyBody }
    }
  }, async (_request, reply) => {
    const { ready, components } = app.readiness.report()
    const status = app.readiness.shuttingDown ? 'shutting_down' as const : ready ? 'ready' as const : 'not_ready' as const
    reply.header('cache-control', 'no-store')
    const fleet = app.replicas?.view()
    return await reply.code(ready ? 200 : 503).send({ status, components, ...(fleet === undefined ? {} : { replicas: { count: fleet.replicas, source: fleet.source } }) })
  })
}

export default healthRoutes
