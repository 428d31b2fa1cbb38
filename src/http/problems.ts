/**
 * Renders the error catalogue as RFC 9457 `application/problem+json`. This is the only place
 * that turns an error into a response, so 5xx bodies never carry an internal message and every
 * error gets the same headers (request id, Retry-After, no caching).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from 'typebox'
import { BrokerError, ERRORS, PROBLEM_TYPE_BASE, toBrokerError, type ErrorCode } from '../errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The catalogue code this request failed with, set by `errorHandler` (metrics count it). */
    problemCode?: ErrorCode
  }
}

export const Problem = Type.Object({
  type: Type.String({ description: 'A URL naming the error code, pointing at its documentation.' }),
  title: Type.String(),
  status: Type.Integer(),
  code: Type.Unsafe<ErrorCode>({ type: 'string', enum: Object.keys(ERRORS), description: 'Stable error code.' }),
  detail: Type.String({ description: 'What went wrong, safe to show; never holds a token or a claim.' }),
  requestId: Type.String({ description: 'Also in the X-Request-ID header; quote it when reporting a problem.' })
}, { $id: 'Problem', description: 'An error, as RFC 9457 problem details.' })
export type ProblemBody = Static<typeof Problem>

/** Response schema entry for a status, naming the codes it can carry (shown in the OpenAPI docs). */
export function problemResponse (...codes: ErrorCode[]): { description: string, content: { 'application/problem+json': { schema: ReturnType<typeof Type.Ref> } } } {
  return {
    description: codes.map((code) => `\`${code}\`: ${ERRORS[code].title}`).join('; '),
    content: { 'application/problem+json': { schema: Type.Ref('Problem') } }
  }
}

/** Fastify's own errors, mapped by their stable `code`. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_TYPE: 'invalid_request',
  FST_ERR_VALIDATION: 'invalid_request',
  FST_ERR_BAD_URL: 'invalid_request',
  FST_ERR_ASYNC_CONSTRAINT: 'invalid_request'
}

export function fromFastifyError (err: FastifyError): BrokerError | undefined {
  if (err.validation !== undefined) {
    return new BrokerError('invalid_request', `The request does not match its schema: ${err.message}.`)
  }
  const code = FASTIFY_CODES[err.code]
  if (code !== undefined) {
    const detail = code === 'payload_too_large'
      ? 'The request body is too large.'
      : code === 'unsupported_media_type' ? 'Send the body as application/json.' : 'The request is malformed.'
    return new BrokerError(code, detail)
  }
  return undefined
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, error: BrokerError): FastifyReply {
  const body: ProblemBody = {
    type: `${PROBLEM_TYPE_BASE}${error.code}`,
    title: ERRORS[error.code].title,
    status: error.statusCode,
    code: error.code,
    detail: error.detail,
    requestId: request.id
  }
  reply.code(error.statusCode)
  reply.header('content-type', 'application/problem+json; charset=utf-8')
  reply.header('cache-control', 'no-store')
  if (error.retryAfterS !== undefined) reply.header('retry-after', String(error.retryAfterS))
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value)
  return reply.send(body)
}

export function errorHandler (err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error = fromFastifyError(err) ?? toBrokerError(err)
  request.problemCode = error.code
  if (request.raw.destroyed) {
    // Nobody reads this answer: the client hung up, or the shutdown grace cut the connection (which
    // server.ts reported once, at warn). A failure caused by the missing client is not the broker's.
    request.log.info({ code: error.code, errorType: err.name }, 'request failed after its connection closed')
  } else if (error.statusCode >= 500 && error.code !== 'shutting_down' && error.code !== 'overloaded') {
    request.log.error({ err, code: error.code }, 'request failed')
  }
  // Otherwise the access log line (access-log.ts) carries the code.
  return sendProblem(request, reply, error)
}

export function notFoundHandler (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(request, reply, new BrokerError('not_found', `No route for ${request.method} ${request.url.split('?')[0] ?? ''}.`))
}
