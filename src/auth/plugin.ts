/**
 * Fastify plugin: decorates `fastify.auth` with the Authenticator built from the JWT
 * configuration, starts it when the app is ready (the first JWKS fetch, at most its 2 s
 * deadline) and closes it with the app. Routes call
 * `fastify.auth.authenticate(request.headers.authorization)` and let the BrokerError reach the
 * app's error handler; readiness probes use `fastify.auth.ready()`.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { JwtConfig } from '../config.ts'
import { createAuthenticator } from './authenticator.ts'
import type { JwksOptions } from './jwks-store.ts'
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
  const authenticator = createAuthenticator(options.config, {
    logger: fastify.log,
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    ...(options.jwks === undefined ? {} : { jwks: options.jwks })
  })
  fastify.decorate('auth', authenticator)
  fastify.addHook('onReady', async () => { await authenticator.start() })
  fastify.addHook('onClose', async () => { await authenticator.close() })
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x' })
