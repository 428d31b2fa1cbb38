import Fastify, { type FastifyBaseLogger } from 'fastify'
import type { Test } from 'tap'
import type { Authenticator, JwksOptions } from '../../../src/auth/index.ts'
import authPlugin from '../../../src/auth/plugin.ts'
import { BrokerError } from '../../../src/errors.ts'
import { captureLogger } from './log.ts'
import { jwtConfig } from './tokens.ts'

export interface Harness {
  auth: Authenticator
  /** Every onVerify outcome, in order. */
  outcomes: string[]
  /** Every onJwksFetch result, in order. */
  fetches: string[]
  logs: () => string
}

/**
 * The authenticator from env variables, as the broker builds it (the auth plugin, so @fastify/jwt,
 * in a bare Fastify instance), not yet started: tests call `auth.start()` when they want the first
 * JWKS fetch. Closed at the end of the test.
 */
export async function harness (t: Test, env: Record<string, string>, jwks: Partial<JwksOptions> = {}): Promise<Harness> {
  const { logger, text } = captureLogger()
  const outcomes: string[] = []
  const fetches: string[] = []
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger })
  await app.register(authPlugin, {
    config: jwtConfig(env),
    hooks: { onVerify: (o) => outcomes.push(o), onJwksFetch: (r) => fetches.push(r) },
    jwks
  })
  t.teardown(() => app.close())
  return { auth: app.auth, outcomes, fetches, logs: text }
}

/** Awaits a promise that must reject with a BrokerError, and returns that error. */
export async function rejection (promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof BrokerError) return err
    throw new Error(`expected a BrokerError, got ${String(err)}`)
  }
  throw new Error('expected a rejection, got a success')
}

/** Asserts a 401 invalid_token with the given reason (the last onVerify outcome). */
export async function assertInvalid (t: Test, h: Harness, promise: Promise<unknown>, reason: string, message?: string): Promise<BrokerError> {
  const err = await rejection(promise)
  t.equal(err.code, 'invalid_token', `${message ?? reason}: invalid_token`)
  t.equal(err.statusCode, 401, `${message ?? reason}: 401`)
  t.match(err.headers['WWW-Authenticate'], /^Bearer error="invalid_token"/, `${message ?? reason}: WWW-Authenticate`)
  t.equal(h.outcomes.at(-1), reason, `${message ?? reason}: reason`)
  return err
}
