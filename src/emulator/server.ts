/**
 * The request pipeline of the emulated API: route → fault → signature → rate limit → validation →
 * handler, with every outcome counted and recorded. Control API requests are diverted first and are
 * neither counted nor recorded.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { CONTROL_PREFIX, handleControl } from './control.ts'
import type { Core } from './core.ts'
import { BusinessError, errorReply, type Reply } from './errors.ts'
import type { ActiveFault } from './faults.ts'
import { drip, flattenHeaders, pathOf, readBody, resetConnection, sendJson, sendMalformed } from './http-io.ts'
import { bodyUserId, ROUTES, type Route, type RouteRequest } from './routes.ts'
import { verifySignature } from './signature.ts'
import { checkRequestId } from './validate.ts'

/** What is known about a request once its body is read; becomes a RecordedRequest when answered. */
interface Exchange {
  port: number
  at: number
  method: string
  path: string
  req: IncomingMessage
  res: ServerResponse
  body: string
}

function isSuccessCode (code: number | null): boolean {
  return code === 0 || code === 200
}

/** Counts and records the outcome; status 0 means nothing was sent (hang, reset). */
function record (core: Core, ex: Exchange, status: number, code: number | null): void {
  if (code !== null && !isSuccessCode(code)) core.stats.rejected(code)
  core.logger.debug({ port: ex.port, method: ex.method, path: ex.path, status, code }, 'request')
  core.stats.record({
    port: ex.port,
    method: ex.method,
    path: ex.path,
    headers: flattenHeaders(ex.req.headers),
    body: ex.body,
    status,
    code,
    at: ex.at,
  })
}

function reply (core: Core, ex: Exchange, r: Reply): void {
  record(core, ex, r.status, r.code)
  if (r.success) core.stats.succeeded(ex.path, r.issuedFor)
  sendJson(ex.res, r.status, r.body, r.headers)
}

function rateLimitedReply (core: Core, retryAfterMs: number): Reply {
  const r = errorReply(1008, 'rate limit exceeded, retry after a short delay', core.errorsWithHttp200)
  // Retry-After is not documented upstream, so it is opt-in: clients must not come to rely on it.
  if (core.retryAfterOn429) r.headers = { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) }
  return r
}

/** The real service: authenticate, admit, validate, act. */
function serve (core: Core, route: Route, request: RouteRequest): Reply {
  try {
    const appKey = verifySignature(request.headers, core.signature)
    // Only authentic requests use up quota, as the limit is per App Key.
    const admission = core.limiter.admit(appKey, route.path)
    if (!admission.admitted) return rateLimitedReply(core, admission.retryAfterMs)
    checkRequestId(request.headers)
    return route.handle(request, core.state)
  } catch (err) {
    if (err instanceof BusinessError) return errorReply(err.code, err.message, core.errorsWithHttp200, err.status)
    throw err
  }
}

/** Answers in the fault's way; returns false for latency, after which the request is served normally. */
async function applyFault (core: Core, ex: Exchange, route: Route, fault: ActiveFault): Promise<boolean> {
  const request: RouteRequest = { headers: ex.req.headers, body: ex.body }
  switch (fault.kind) {
    case 'latency':
      return !(await core.delay(fault.ms))
    case 'status': {
      const code = fault.status === 504 ? 1050 : 1000
      reply(core, ex, { status: fault.status, code, body: { code, errorMessage: 'internal error, retry later' } })
      return true
    }
    case 'rate_limit':
      reply(core, ex, rateLimitedReply(core, 1000))
      return true
    case 'business_error':
      reply(core, ex, errorReply(fault.code, `injected business error ${fault.code}`, core.errorsWithHttp200, fault.statusOverride))
      return true
    case 'hang':
      // Never answer; close() destroys the socket.
      record(core, ex, 0, null)
      return true
    case 'reset':
      record(core, ex, 0, null)
      resetConnection(ex.req)
      return true
    case 'malformed':
      record(core, ex, 200, null)
      sendMalformed(ex.res, route.fakeSuccess(request, core.state))
      return true
    case 'drip': {
      const body = route.fakeSuccess(request, core.state) as { code: number }
      record(core, ex, 200, body.code)
      await drip(ex.res, 200, body, fault.ms, core.lifetime.signal)
      return true
    }
    case 'wrong_user': {
      // A real token, but for someone else; the asked user is not registered.
      const other = `wrong${randomBytes(6).toString('hex')}`
      const body = route.tokenBody?.(other, core.state.storeToken(other)) as { code: number }
      record(core, ex, 200, body.code)
      sendJson(ex.res, 200, body)
      return true
    }
  }
}

async function handle (core: Core, port: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = pathOf(req.url)
  if (path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`)) return handleControl(core, path, req, res)

  const at = Date.now()
  core.stats.received(port)
  const raw = await readBody(req)
  const ex: Exchange = { port, at, method: req.method ?? 'GET', path, req, res, body: raw.text }
  const route = ROUTES.get(path)
  if (!route) {
    return reply(core, ex, { status: 404, code: 404, body: { code: 404, errorMessage: `no such endpoint: ${path}` } })
  }
  core.stats.call(path, at)
  if (ex.method !== 'POST') {
    const body = { code: 405, errorMessage: `method ${ex.method} not allowed, use POST` }
    return reply(core, ex, { status: 405, code: 405, body, headers: { allow: 'POST' } })
  }
  if (raw.tooLarge) return reply(core, ex, errorReply(1005, 'request body too large', core.errorsWithHttp200))

  const fault = core.faults.take(path, port, route.tokenBody !== undefined, bodyUserId({ headers: req.headers, body: raw.text }))
  if (fault && (await applyFault(core, ex, route, fault))) return
  if (core.lifetime.signal.aborted) return
  reply(core, ex, serve(core, route, { headers: req.headers, body: raw.text }))
}

/** One request listener per port, all feeding the same Core. */
export function createRequestListener (core: Core, port: number): RequestListener {
  return (req, res) => {
    handle(core, port, req, res).catch((err: unknown) => {
      // A client that hangs up mid-body is routine; anything else is an emulator bug worth seeing.
      core.logger.debug({ err, port }, 'request failed')
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { code: 1000, errorMessage: 'emulator error' })
    })
  }
}
