/**
 * Where a provider's JWKS lives. Configured (`jwksUrl`, JWT_JWKS_URL), or found by OpenID Connect
 * discovery (`discovery: true`, JWT_OIDC_ISSUER): `<issuer>/.well-known/openid-configuration`,
 * whose `issuer` must equal the configured issuer exactly (OIDC Discovery §4.3, so a document
 * cannot vouch for another issuer) and whose `jwks_uri` must be HTTPS (or loopback, for tests).
 * The document is read again on the JWKS schedule, so a provider that moves its keys is followed;
 * when it cannot be read, the last good `jwks_uri` keeps serving.
 */
import type { Dispatcher } from 'undici'
import { isLoopbackHost } from '../config/env-reader.ts'
import { fetchJson, FetchJsonError } from './fetch-json.ts'
import { isPlainObject } from './jwk.ts'

export interface JwksLocator {
  /** What the logs call it: an origin and path, never a query. */
  readonly label: string
  /** The JWKS URL to fetch now; throws FetchJsonError when it cannot tell. */
  locate: (fetch: LocateFetch) => Promise<URL>
}

export interface LocateFetch {
  dispatcher: Dispatcher
  timeoutMs: number
  maxBytes: number
  signal: AbortSignal
}

export const DISCOVERY_PATH = '/.well-known/openid-configuration'

export function staticLocator (url: URL): JwksLocator {
  return { label: url.origin + url.pathname, locate: async () => url }
}

export function discoveryLocator (issuer: string): JwksLocator {
  const documentUrl = new URL(issuer.replace(/\/+$/, '') + DISCOVERY_PATH)
  let lastGood: URL | undefined
  return {
    label: documentUrl.origin + documentUrl.pathname,
    locate: async (fetch) => {
      try {
        const result = await fetchJson(documentUrl, { ...fetch, etag: undefined }, 'OIDC discovery')
        if (result.kind !== 'ok') throw new FetchJsonError('error', 'the OIDC discovery endpoint answered 304 to a request without a validator')
        lastGood = jwksUriOf(result.document, issuer)
        return lastGood
      } catch (err) {
        // A discovery outage must not take keys away: the last jwks_uri still names them.
        if (lastGood !== undefined) return lastGood
        throw err
      }
    }
  }
}

function jwksUriOf (document: unknown, issuer: string): URL {
  if (!isPlainObject(document)) throw new FetchJsonError('error', 'the OIDC discovery document is not a JSON object')
  if (document.issuer !== issuer) {
    throw new FetchJsonError('error', 'the OIDC discovery document names another issuer than the one configured; its keys are not used')
  }
  const raw = document.jwks_uri
  let url: URL
  try {
    if (typeof raw !== 'string') throw new TypeError('no jwks_uri')
    url = new URL(raw)
  } catch {
    throw new FetchJsonError('error', 'the OIDC discovery document has no usable jwks_uri')
  }
  if (url.username !== '' || url.password !== '' || !(url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname)))) {
    throw new FetchJsonError('error', 'the OIDC discovery document\'s jwks_uri must be an https:// URL without credentials')
  }
  return url
}
