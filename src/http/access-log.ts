/**
 * One log line per request, written once its response is sent, with what an operator needs to
 * follow it: method, path, route, status, duration, and the token outcome or the error code.
 *
 * Fastify's default is a line when a request arrives and another when it completes; with the
 * broker's own "token served" line that made three synchronous writes per cache hit, and one write
 * to stdout costs more than the rest of a hit's work (docs/benchmarks.md). Fastify's other
 * request-lifecycle lines (stream errors, serializer failures) are kept as they are. Routes that
 * set a level above `info` (health probes, metrics) are not logged at `info`.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'

declare module 'fastify' {
  interface FastifyRequest {
    /** What the route did, for the access log line (the token route sets its cache outcome). */
    outcome?: string
  }
}

export class AccessLog extends LogController {
  constructor () {
    super({ requestIdLogLabel: 'requestId' })
  }

  override incomingRequest (): void {
    // Folded into the line written when the request completes.
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // Below `info` (or a quiet route's level) a success writes nothing: build nothing either.
    if (error == null && !(reply.log as unknown as Logger).isLevelEnabled('info')) return
    const line = {
      req: request,
      res: reply,
      responseTime: Math.round(reply.elapsedTime * 100) / 100,
      outcome: request.outcome,
      code: request.problemCode
    }
    if (error == null) reply.log.info(line, 'request completed')
    else reply.log.error({ ...line, err: error }, 'request errored')
  }
}
