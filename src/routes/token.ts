/**
 * The product's API: exchange the app's JWT for the user's Nexconn token, and log out.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from 'typebox'
import type { Config } from '../config.ts'
import { perUserRateLimit } from '../http/guard.ts'
import { problemResponse } from '../http/problems.ts'
import type { Identity } from '../auth/index.ts'
import type { CachedToken } from '../tokens/store.ts'

export const TokenResponse = Type.Object({
  userId: Type.String({ description: 'The Nexconn user id the token belongs to.' }),
  token: Type.String({ description: 'The Nexconn access token, for the chat SDK\'s connect call.' }),
  appKey: Type.String({ description: 'The Nexconn App Key, for the chat SDK\'s init call.' }),
  issuedAt: Type.String({ format: 'date-time', description: 'When the broker obtained the token from Nexconn.' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: '`null` when tokens never expire (the Nexconn console default).' })
}, { $id: 'TokenResponse', additionalProperties: false })

const TokenRequest = Type.Object({
  forceRefresh: Type.Optional(Type.Boolean({ description: 'Ask for a new token because the chat SDK reported this one invalid (connect error 31004). Honoured at most once per 30 s per user; more often the current token is returned.' }))
}, { additionalProperties: false })

const AUTH_ERRORS = {
  400: problemResponse('invalid_request'),
  401: problemResponse('missing_token', 'invalid_token'),
  403: problemResponse('invalid_user_id', 'user_disabled', 'upstream_refused'),
  429: problemResponse('rate_limited'),
  413: problemResponse('payload_too_large'),
  415: problemResponse('unsupported_media_type'),
  500: problemResponse('internal_error'),
  503: problemResponse('keys_unavailable', 'shutting_down', 'overloaded')
}

const NO_STORE = { 'cache-control': 'no-store' }
const JSON_TYPE = 'application/json; charset=utf-8'

export function tokenBody (token: CachedToken, appKey: string): Static<typeof TokenResponse> {
  return {
    userId: token.userId,
    token: token.token,
    appKey,
    issuedAt: new Date(token.issuedAt).toISOString(),
    expiresAt: token.expiresAt === null ? null : new Date(token.expiresAt).toISOString()
  }
}

const tokenRoutes: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, { config }) => {
  const appKey = config.nexconn.appKey
  const limit = perUserRateLimit(config, (userId) => app.tokens.userKey(userId))
  const bodies = new WeakMap<CachedToken, string>()

  app.post('/v1/token', {
    onRequest: app.authenticateUser,
    config: limit,
    schema: {
      tags: ['tokens'],
      summary: 'Get the caller\'s Nexconn access token.',
      description: 'Verifies the app\'s JWT in `Authorization: Bearer …` and returns the user\'s Nexconn token, from cache when possible, otherwise issued by Nexconn (once per user, across replicas).',
      security: [{ appJwt: [] }],
      body: TokenRequest,
      response: {
        200: Type.Ref('TokenResponse'),
        ...AUTH_ERRORS,
        502: problemResponse('upstream_rejected'),
        503: problemResponse('upstream_unavailable', 'keys_unavailable', 'shutting_down', 'overloaded')
      }
    },
    // The body is optional: a plain `curl -X POST` sends none.
    preValidation: (request, _reply, done) => {
      request.body ??= {}
      done()
    }
  }, async (request, reply) => {
    const identity = userOf(request)
    const { token, outcome } = await app.tokens.getToken(identity, { forceRefresh: request.body?.forceRefresh === true, requestId: request.id })
    request.outcome = outcome
    // A cached token is the same object on every hit: its body is serialized (by this route's
    // response schema) once, not per request.
    let body = bodies.get(token)
    if (body === undefined) {
      body = reply.serialize(tokenBody(token, appKey)).toString()
      bodies.set(token, body)
    }
    return await reply.headers(NO_STORE).type(JSON_TYPE).send(body)
  })

  app.delete('/v1/token', {
    onRequest: app.authenticateUser,
    config: limit,
    schema: {
      tags: ['tokens'],
      summary: 'Log out: drop the caller\'s cached token.',
      description: 'With `revoke=true`, every Nexconn token the user obtained before now is also expired at Nexconn (all devices are disconnected at their next reconnect).',
      security: [{ appJwt: [] }],
      querystring: Type.Object({
        revoke: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')]))
      }, { additionalProperties: false }),
      response: {
        204: Type.Null({ description: 'Done.' }),
        ...AUTH_ERRORS,
        502: problemResponse('upstream_rejected'),
        503: problemResponse('upstream_unavailable', 'keys_unavailable', 'shutting_down', 'overloaded')
      }
    }
  }, async (request, reply) => {
    const identity = userOf(request)
    if (request.query.revoke === 'true') await app.tokens.revoke([identity.userId], request.id)
    else await app.tokens.forget(identity.userId)
    return await reply.code(204).headers(NO_STORE).send()
  })
}

/** The identity `authenticateUser` verified; its absence would be a wiring bug. */
function userOf (request: { identity?: Identity }): Identity {
  if (request.identity === undefined) throw new Error('BUG: route reached without authentication')
  return request.identity
}

export default tokenRoutes
