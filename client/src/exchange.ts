/**
 * One HTTP exchange with the broker: POST /v1/token with the app's JWT, within a deadline that
 * covers the whole answer (headers and body), turned into a token or a typed error. No retries
 * here; the provider decides those.
 */
import { TOKEN_PATH, type TokenRequest, type TokenResponse } from './api.generated.ts'
import { parseRetryAfter } from './backoff.ts'
import { abortedError, TokenProviderError } from './errors.ts'
import { isProblem, isTokenResponse } from './shape.ts'

/** What the client needs of a Response: satisfied by browsers, React Native, Node.js and undici. */
export interface ResponseLike {
  readonly ok: boolean
  readonly status: number
  readonly headers: { get: (name: string) => string | null }
  text: () => Promise<string>
}

export interface RequestInitLike {
  method: string
  headers: Record<string, string>
  body: string
  signal: AbortSignal
}

/** `globalThis.fetch` or any function shaped like it (a wrapped fetch, a test's counting fetch). */
export type FetchLike = (url: string, init: RequestInitLike) => Promise<ResponseLike>

export interface ExchangeOptions {
  fetch: FetchLike
  url: string
  jwt: string
  forceRefresh: boolean
  timeoutMs: number
  /** Aborted by `clear()`. */
  signal: AbortSignal
  now: () => number
}

/** `https://chat.example.com/broker/` → `https://chat.example.com/broker/v1/token` (a path prefix is kept). */
export function tokenUrl (brokerUrl: string): string {
  let parsed: URL
  try {
    parsed = new URL(brokerUrl)
  } catch {
    throw new TypeError('brokerUrl must be an absolute http(s) URL, e.g. https://chat-broker.example.com')
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new TypeError('brokerUrl must use http: or https:')
  if (parsed.search !== '' || parsed.hash !== '') throw new TypeError('brokerUrl must not carry a query or fragment')
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}${TOKEN_PATH}`
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export async function requestToken (options: ExchangeOptions): Promise<TokenResponse> {
  if (options.signal.aborted) throw abortedError()
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; controller.abort() }, options.timeoutMs)
  const cancel = (): void => { controller.abort() }
  options.signal.addEventListener('abort', cancel, { once: true })

  const body: TokenRequest = options.forceRefresh ? { forceRefresh: true } : {}
  let response: ResponseLike
  let text: string
  try {
    response = await options.fetch(options.url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${options.jwt}`,
        'content-type': 'application/json',
        accept: 'application/json, application/problem+json'
      },
      body: JSON.stringify(body),
      signal: controller.signal
    })
    text = await response.text()
  } catch (err) {
    if (options.signal.aborted) throw abortedError()
    if (timedOut) throw new TokenProviderError('timeout', `The broker did not answer within ${options.timeoutMs} ms.`, { cause: err })
    // Browsers report a CORS refusal exactly like a network failure, by design.
    throw new TokenProviderError('network_error', 'The broker could not be reached.', { cause: err })
  } finally {
    clearTimeout(timer)
    options.signal.removeEventListener('abort', cancel)
  }

  const json = parseJson(text)
  const requestId = response.headers.get('x-request-id') ?? undefined
  if (response.ok) {
    if (isTokenResponse(json)) return json
    throw new TokenProviderError('unexpected_response', 'The broker\'s answer is not a token.', { requestId })
  }
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), options.now())
  if (isProblem(json)) {
    throw new TokenProviderError(json.code, json.detail, { status: response.status, requestId: json.requestId, retryAfterMs })
  }
  throw new TokenProviderError('unexpected_response', `HTTP ${response.status} without the broker's problem details.`, { status: response.status, requestId, retryAfterMs })
}
