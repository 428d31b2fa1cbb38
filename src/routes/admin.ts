/**
 * Operator API, registered only when ADMIN_API_KEY is set. The key is compared in constant time
 * (both sides hashed first, so not even its length leaks).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { BrokerError } from '../errors.ts'
import { problemResponse } from '../http/problems.ts'

export const MAX_REVOKE_USERS = 1000

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

const adminRoutes: FastifyPluginAsyncTypebox<{ adminApiKey: string }> = async (app, { adminApiKey }) => {
  const expected = digest(adminApiKey)

  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization
    const match = /^Bearer +(\S+)$/i.exec(header ?? '')
    if (match !== null && timingSafeEqual(digest(match[1] ?? ''), expected)) return
    // As for user tokens: the right key always works; an address that keeps guessing gets 429.
    const limited = await app.authFailures.record(request.ip)
    if (limited !== undefined) throw limited
    if (header === undefined || header === '') throw new BrokerError('missing_token', 'Send the admin API key as "Authorization: Bearer <key>".', { headers: { 'www-authenticate': 'Bearer' } })
    throw new BrokerError('invalid_token', 'The admin API key is not valid.', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } })
  })

  app.post('/v1/admin/revoke', {
    schema: {
      tags: ['admin'],
      summary: 'Expire users\' tokens at Nexconn and drop them from every cache.',
      description: `Up to ${MAX_REVOKE_USERS} Nexconn user ids, sent to Nexconn in batches of 20. Every token the users obtained before now stops working; the next token request issues a new one.`,
      security: [{ adminKey: [] }],
      body: Type.Object({
        userIds: Type.Array(Type.String({ pattern: '^[A-Za-z0-9]{1,64}$' }), { minItems: 1, maxItems: MAX_REVOKE_USERS, description: 'Nexconn user ids (as returned in `userId`).' })
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ revoked: Type.Integer({ description: 'Distinct users revoked.' }) }),
        400: problemResponse('invalid_request'),
        401: problemResponse('missing_token', 'invalid_token'),
        403: problemResponse('user_disabled', 'upstream_refused'),
        429: problemResponse('rate_limited'),
        500: problemResponse('internal_error'),
        502: problemResponse('upstream_rejected'),
        503: problemResponse('upstream_unavailable', 'shutting_down', 'overloaded')
      }
    }
  }, async (request) => {
    const revoked = await app.tokens.revoke(request.body.userIds, request.id)
    request.log.info({ revoked }, 'tokens revoked by admin')
    return { revoked }
  })
}

export default adminRoutes
