/**
 * One GET of a JSON document from an identity provider (a JWKS, an OIDC discovery document), on
 * undici with an overall deadline. undici's own timeouts are set too, but `bodyTimeout` restarts on
 * every chunk, so a server dripping bytes is only cut off by the AbortSignal deadline. Redirects
 * are not followed (undici's `request` does not), the body is capped, and the answer must be JSON.
 */
import { request, type Dispatcher } from 'undici'

export type FetchResult =
  | { kind: 'ok', document: unknown, etag: string | undefined }
  | { kind: 'not_modified' }

export class FetchJsonError extends Error {
  readonly reason: 'timeout' | 'error'
  constructor (reason: 'timeout' | 'error', message: string) {
    super(message)
    this.name = 'FetchJsonError'
    this.reason = reason
  }
}

export interface FetchOptions {
  dispatcher: Dispatcher
  timeoutMs: number
  maxBytes: number
  /** ETag of the document we hold; sent as `If-None-Match`. */
  etag: string | undefined
  /** Aborted when the authenticator closes. */
  signal: AbortSignal
}

export async function fetchJson (url: URL, options: FetchOptions, what = 'JWKS'): Promise<FetchResult> {
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, options.timeoutMs)
  timer.unref()
  const onOuterAbort = (): void => { controller.abort() }
  options.signal.addEventListener('abort', onOuterAbort, { once: true })
  if (options.signal.aborted) controller.abort()

  try {
    const headers: Record<string, string> = { accept: what === 'JWKS' ? 'application/jwk-set+json, application/json' : 'application/json' }
    if (options.etag !== undefined) headers['if-none-match'] = options.etag
    const response = await request(url, { method: 'GET', headers, dispatcher: options.dispatcher, signal: controller.signal })
    try {
      if (response.statusCode === 304 && options.etag !== undefined) return { kind: 'not_modified' }
      if (response.statusCode !== 200) throw new FetchJsonError('error', `the ${what} endpoint answered HTTP ${response.statusCode}`)
      const declared = Number(response.headers['content-length'])
      if (Number.isFinite(declared) && declared > options.maxBytes) throw tooLarge(what, options.maxBytes)
      const text = await readCapped(response.body, options.maxBytes, what)
      let document: unknown
      try {
        document = JSON.parse(text)
      } catch {
        throw new FetchJsonError('error', `the ${what} endpoint did not answer with JSON`)
      }
      const etag = response.headers.etag
      return { kind: 'ok', document, etag: typeof etag === 'string' && etag.length <= 256 ? etag : undefined }
    } finally {
      // Releases the socket whatever happened. Destroying an unread undici body emits an
      // 'error' (RequestAbortedError); without a listener that would crash the process.
      response.body.on('error', () => {})
      response.body.destroy()
    }
  } catch (err) {
    if (timedOut) throw new FetchJsonError('timeout', `the ${what} endpoint did not answer within ${options.timeoutMs} ms`)
    if (err instanceof FetchJsonError) throw err
    if (options.signal.aborted) throw new FetchJsonError('error', 'the authenticator is closing')
    // undici and system errors carry a stable code; their messages may quote the peer.
    const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
      ? (err as { code: string }).code
      : 'unknown'
    throw new FetchJsonError('error', `the ${what} request failed (${code})`)
  } finally {
    clearTimeout(timer)
    options.signal.removeEventListener('abort', onOuterAbort)
  }
}

async function readCapped (body: AsyncIterable<Buffer>, maxBytes: number, what: string): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > maxBytes) throw tooLarge(what, maxBytes)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function tooLarge (what: string, maxBytes: number): FetchJsonError {
  return new FetchJsonError('error', `the ${what} document is larger than ${maxBytes} bytes`)
}
