/**
 * One runtime provider per configured issuer. Each is verified by its own @fastify/jwt
 * registration (namespace `idp<n>`) with that issuer's pinned algorithms, issuer, audiences and
 * clock tolerance, and is handed its key: the fixed secret or PEM key, or, for a JWKS (configured
 * or found by OIDC discovery), a key fetcher that asks this provider's JWKS store for the token's
 * `kid` and refuses an `alg` the key was not published for.
 *
 * @fastify/jwt's verification cache stays off: the authenticator keeps its own cache of
 * successes only (fast-jwt would also cache failures, and outlive a key rotation).
 */
import type { FastifyJWTOptions, Secret } from '@fastify/jwt'
import type { DecodedJwt } from 'fast-jwt'
import type { JwtProvider } from '../config.ts'
import { discoveryLocator, staticLocator } from './discovery.ts'
import { JwksStore, type JwksOptions } from './jwks-store.ts'
import { invalidToken } from './reasons.ts'
import { spkiPem } from './spki.ts'
import type { AuthHooks, AuthLogger } from './types.ts'

/** What @fastify/jwt's namespaced decorator offers that we use. */
export interface NamespaceVerifier {
  verify: (token: string) => unknown
}

export interface Provider {
  readonly config: JwtProvider
  /** The @fastify/jwt namespace that verifies this provider's tokens. */
  readonly namespace: string
  /** Present for a JWKS or discovery provider. */
  readonly store: JwksStore | undefined
  /** The options this provider registers @fastify/jwt with. */
  readonly jwtOptions: FastifyJWTOptions
  ready: () => boolean
}

export interface ProviderDeps {
  logger: AuthLogger
  hooks: AuthHooks
  jwks: JwksOptions
  clockToleranceS: number
  /** Cached verifications must go when a provider's keys change. */
  onKeysRemoved: () => void
}

export function createProvider (config: JwtProvider, index: number, deps: ProviderDeps): Provider {
  const namespace = `idp${index}`
  let store: JwksStore | undefined
  let key: Secret
  switch (config.key.mode) {
    case 'secret':
      key = config.key.secret
      break
    case 'public_key':
      key = spkiPem(config.key.publicKey)
      break
    default: {
      const locator = config.key.mode === 'jwks' ? staticLocator(config.key.jwksUrl) : discoveryLocator(config.issuers[0] ?? '')
      const jwksStore = new JwksStore(locator, config.algorithms, deps.jwks, { logger: deps.logger, hooks: deps.hooks, onKeysRemoved: deps.onKeysRemoved })
      store = jwksStore
      // fast-jwt calls this with the decoded token; the header was already checked by the authenticator.
      key = async ({ header }: DecodedJwt): Promise<string> => {
        // Both were checked by the authenticator: a bounded string or undefined, and a pinned algorithm.
        const kid = typeof header.kid === 'string' ? header.kid : undefined
        const alg = String(header.alg)
        const entry = await jwksStore.resolve(kid, alg)
        // A key published for one algorithm verifies that one only.
        if (!(entry.algorithms as readonly string[]).includes(alg)) throw invalidToken('alg_not_allowed')
        return entry.pem
      }
    }
  }
  // With client ids, `aud` is one of two ways in (the other is `client_id`): checked afterwards.
  const audiences = config.clientIds.length === 0 && config.audiences.length > 0 ? config.audiences : undefined
  const jwtOptions: FastifyJWTOptions = {
    namespace,
    // Verify-only: a `public` key and no `private` one, so no signer is ever built.
    secret: { public: key },
    verify: {
      algorithms: [...config.algorithms],
      ...(config.issuers.length > 0 ? { allowedIss: [...config.issuers] } : {}),
      ...(audiences === undefined ? {} : { allowedAud: [...audiences] }),
      // fast-jwt accepts a token without exp unless it is required, and skips allowedIss /
      // allowedAud for a token that simply omits iss / aud: so those are required too when checked.
      requiredClaims: ['exp', ...(config.issuers.length > 0 ? ['iss'] : []), ...(audiences === undefined ? [] : ['aud'])],
      // fast-jwt counts tolerance in milliseconds; configuration counts seconds.
      clockTolerance: deps.clockToleranceS * 1000,
      cache: false
    }
  }
  return { config, namespace, store, jwtOptions, ready: () => store === undefined || store.ready() }
}
