/**
 * Fastify plugin: registers @fastify/jwt once per identity provider (namespace `idp<n>`, with
 * that provider's key and verification options: providers.ts) and decorates `fastify.auth` with
 * the Authenticator that selects the provider by `iss` and calls its namespace. Starts the JWKS
 * stores when the app is ready (each first fetch bounded by its 2 s deadline) and closes them
 * with the app. Routes call `fastify.auth.authenticate(request.headers.authorization)` and let the
 * BrokerError reach the app's error handler; readiness uses `ready()` and `providerStates()`.
 */
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { JwtConfig } from '../config.ts'
import { createAuthenticator, createCache } from './authenticator.ts'
import { DEFAULT_JWKS_OPTIONS, type JwksOptions } from './jwks-store.ts'
import { createProvider, type NamespaceVerifier } from './providers.ts'
import type { Authenticator, AuthHooks } from './types.ts'

declare module 'fastify' {
  interface FastifyInstance {
    auth: Authenticator
  }
}

export interface AuthPluginOptions {
  config: JwtConfig
  hooks?: AuthHooks
  /** JWKS tuning for tests; production uses the defaults. */
  jwks?: Partial<JwksOptions>
}

async function authPlugin (fastify: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const hooks = options.hooks ?? {}
  const cache = createCache()
  const providers = options.config.providers.map((config, index) => createProvider(config, index, {
    logger: fastify.log,
    hooks,
    jwks: { ...DEFAULT_JWKS_OPTIONS, ...options.jwks },
    clockToleranceS: options.config.clockToleranceS,
    onKeysRemoved: () => { cache.clear() }
  }))
  for (const provider of providers) await fastify.register(fastifyJwt, provider.jwtOptions)
  // @fastify/jwt decorates `fastify.jwt[namespace]`; its types do not model namespaces.
  const namespaces = fastify.jwt as unknown as Record<string, NamespaceVerifier>
  const authenticator = createAuthenticator(options.config, {
    logger: fastify.log,
    hooks,
    providers,
    cache,
    verifierOf: (namespace) => {
      const verifier = namespaces[namespace]
      if (verifier === undefined) throw new Error(`BUG: no @fastify/jwt namespace ${namespace}`)
      return verifier
    }
  })
  fastify.decorate('auth', authenticator)
  fastify.addHook('onReady', async () => { await authenticator.start() })
  fastify.addHook('onClose', async () => { await authenticator.close() })
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x' })
