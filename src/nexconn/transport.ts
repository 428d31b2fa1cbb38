/**
 * One HTTP attempt against one domain: undici pool per origin, a per-attempt timer on top of the
 * call's deadline signal, and a streaming body cap. It never throws for network trouble; it reports
 * what happened so the client can decide between failover, rejection and success.
 *
 * undici's `bodyTimeout` restarts on every chunk, so a server dripping one byte at a time is only
 * stopped by the abort signal; that is why every attempt runs under one.
 */
import { Pool } from 'undici'

export interface PoolOptions {
  connections: number
  keepAliveMs: number
  maxRequestsPerConnection: number
  connectTimeoutMs: number
  timeoutMs: number
  maxBodyBytes: number
}

/**
 * HTTP/1.1 only: the documented connection advice (drop a connection after 55 s idle or 80
 * requests) is about connections, and undici enforces `maxRequestsPerClient` on HTTP/1.1 only.
 */
export function createPool (origin: string, opts: PoolOptions): Pool {
  return new Pool(origin, {
    connections: opts.connections,
    pipelining: 1,
    allowH2: false,
    keepAliveTimeout: opts.keepAliveMs,
    keepAliveMaxTimeout: opts.keepAliveMs,
    maxRequestsPerClient: opts.maxRequestsPerConnection,
    connectTimeout: opts.connectTimeoutMs,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    // Belt and braces: the streaming cap below answers first and says why.
    maxResponseSize: opts.maxBodyBytes + 1
  })
}

export interface AttemptRequest {
  pool: Pool
  path: string
  headers: Record<string, string>
  body: string
  /** The call's signal: deadline and caller cancellation. */
  signal: AbortSignal
  timeoutMs: number
  maxBodyBytes: number
}

export type AttemptResult =
  | { kind: 'response', status: number, retryAfter: string | undefined, body: string }
  | {
    kind: 'failure'
    outcome: 'timeout' | 'network_error' | 'invalid_response'
    /** A stable code for logs: an errno or undici code, or one of ours. */
    code: string
    /** False only when the request certainly never left (connect or DNS failure): it cost no quota. */
    sent: boolean
  }

/** Errors raised before a single byte of the request could reach the server. */
const NOT_SENT = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH',
  'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN'
])
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])

export async function attempt (req: AttemptRequest): Promise<AttemptResult> {
  const timer = new AbortController()
  const timeout = setTimeout(() => { timer.abort(new Error('attempt timeout')) }, req.timeoutMs)
  const signal = AbortSignal.any([req.signal, timer.signal])
  try {
    const res = await req.pool.request({
      path: req.path,
      method: 'POST',
      headers: req.headers,
      body: req.body,
      signal,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs
    })
    const declared = Number(res.headers['content-length'])
    if (Number.isFinite(declared) && declared > req.maxBodyBytes) {
      res.body.destroy()
      return { kind: 'failure', outcome: 'invalid_response', code: 'BODY_TOO_LARGE', sent: true }
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > req.maxBodyBytes) {
        res.body.destroy()
        return { kind: 'failure', outcome: 'invalid_response', code: 'BODY_TOO_LARGE', sent: true }
      }
      chunks.push(chunk)
    }
    const retryAfter = res.headers['retry-after']
    return {
      kind: 'response',
      status: res.statusCode,
      retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      body: Buffer.concat(chunks).toString('utf8')
    }
  } catch (err) {
    if (signal.aborted) {
      return { kind: 'failure', outcome: 'timeout', code: timer.signal.aborted ? 'ATTEMPT_TIMEOUT' : 'CALL_ABORTED', sent: true }
    }
    const code = errorCode(err)
    if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return { kind: 'failure', outcome: 'invalid_response', code: 'BODY_TOO_LARGE', sent: true }
    return { kind: 'failure', outcome: TIMEOUTS.has(code) ? 'timeout' : 'network_error', code, sent: !NOT_SENT.has(code) }
  } finally {
    clearTimeout(timeout)
  }
}

/** The library's stable code, looked for on the error, its cause and (happy eyeballs) its first member. */
export function errorCode (err: unknown): string {
  const seen = new Set<unknown>()
  let current: unknown = err
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current)
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && code !== '') return code
    const errors = (current as { errors?: unknown }).errors
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause
  }
  return 'UNKNOWN'
}
