/**
 * Nexconn webhooks (`WEBHOOK_ENABLED=true`): `POST /v1/webhooks/nexconn`.
 *
 * The signature (query parameters) is checked in `onRequest`, before the body is read, so an
 * unauthenticated caller gets a 401 whatever it sends and never learns the body schema. The
 * signature covers no body, so each accepted signature is remembered with the event it carried:
 * the same signed URL with another event is a replay (401), the same event again is Nexconn
 * redelivering it. The event id is claimed before acting, so a redelivered event is acknowledged
 * without acting again. Only the event type and item count are logged: items carry user ids, the
 * query the signature.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { Type } from 'typebox'
import type { Config } from '../config.ts'
import { BrokerError } from '../errors.ts'
import { problemResponse } from '../http/problems.ts'
import { ACTIVATION_STATE, softDeletedUsers, WebhookEvent, type WebhookEventBody } from '../webhooks/events.ts'
import { createWebhookMemory, digest } from '../webhooks/memory.ts'
import { verifyWebhook, type WebhookRejection, type WebhookSignatureOptions } from '../webhooks/signature.ts'

export interface WebhookRoutesOptions {
  config: Config['ops']['webhook']
  appKey: string
  appSecret: string
  /** Redis key prefix for remembered event ids and signatures. */
  keyPrefix: string
  /** For metrics: every refused call, by reason. */
  onRefused?: (reason: WebhookRejection) => void
}

export const WEBHOOK_PATH = '/v1/webhooks/nexconn'
/** A full `data` array (1,000 items) of the largest documented event fits with room to spare. */
export const WEBHOOK_BODY_LIMIT_BYTES = 256 * 1024
/** How long a handled event id is remembered: Nexconn's retries of one event come well within it. */
export const EVENT_MEMORY_MS = 86_400_000

const WebhookAck = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('duplicate')], { description: '`duplicate`: this event id was already handled within 24 h; nothing was done again.' })
}, { additionalProperties: false })

const webhookRoutes: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (app, options) => {
  const { config } = options
  const signature: WebhookSignatureOptions = {
    appKey: options.appKey,
    appSecret: options.appSecret,
    nonceParam: config.nonceParam,
    timestampParam: config.timestampParam,
    signatureParam: config.signatureParam,
    maxAgeS: config.maxAgeS
  }
  const memory = createWebhookMemory({ redis: app.redis?.client, keyPrefix: options.keyPrefix, logger: app.log as Logger })
  // A signature stays replayable while its timestamp is fresh, at most maxAgeS in either direction.
  const signatureMemoryMs = 2 * config.maxAgeS * 1000
  const refused = (request: FastifyRequest, reason: WebhookRejection): void => {
    request.log.info({ reason }, 'webhook refused')
    try {
      options.onRefused?.(reason)
    } catch {
      // A metrics hook must never decide a webhook.
    }
  }

  const param = (description: string) => Type.Optional(Type.String({ maxLength: 128, description }))
  const Query = Type.Object({
    appKey: param('The App Key; when present it must be this broker\'s.'),
    [config.nonceParam]: param('Random nonce chosen by Nexconn (name set by `WEBHOOK_NONCE_PARAM`).'),
    [config.timestampParam]: param('Unix time in milliseconds or seconds (name set by `WEBHOOK_TIMESTAMP_PARAM`).'),
    [config.signatureParam]: param('hex(SHA1(App Secret + nonce + timestamp)) (name set by `WEBHOOK_SIGNATURE_PARAM`).')
  }, { additionalProperties: true })

  const authenticate = async (request: FastifyRequest): Promise<void> => {
    const verdict = verifyWebhook(request.query as Record<string, unknown>, signature)
    if (verdict.ok) return
    refused(request, verdict.reason)
    if (verdict.reason === 'stale') throw new BrokerError('invalid_token', `The webhook timestamp is stale (older than ${config.maxAgeS} s).`)
    if (verdict.reason === 'future') throw new BrokerError('invalid_token', `The webhook timestamp is stale: more than ${config.maxAgeS} s in the future.`)
    throw new BrokerError('invalid_token', 'The webhook signature is invalid.')
  }

  /** A signature is good for one event: the URL it came with, replayed with another body, is refused. */
  const checkReplay = async (request: FastifyRequest, event: WebhookEventBody): Promise<void> => {
    const signed = String((request.query as Record<string, unknown>)[config.signatureParam]).toLowerCase()
    const eventDigest = digest(event.id)
    const first = await memory.remember('signature', signed, eventDigest, signatureMemoryMs)
    if (first === undefined || first === eventDigest) return
    refused(request, 'replayed')
    throw new BrokerError('invalid_token', 'The webhook signature was already used for another event.')
  }

  const act = async (event: WebhookEventBody, request: FastifyRequest): Promise<void> => {
    if (event.type !== ACTIVATION_STATE) {
      // `user:connection_status` and anything new: acknowledged so Nexconn does not retry.
      request.log.debug({ eventType: event.type }, 'webhook event ignored')
      return
    }
    const users = softDeletedUsers(event)
    // Each forget is bounded (store and invalidation-log calls time out), so this answers quickly.
    await Promise.all(users.map(async (userId) => { await app.tokens.forget(userId) }))
    request.log.info({ eventType: event.type, count: event.data.length, purged: users.length }, 'webhook processed')
  }

  app.post(WEBHOOK_PATH, {
    bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
    onRequest: authenticate,
    schema: {
      tags: ['webhooks'],
      summary: 'Receive a Nexconn webhook event.',
      description: [
        'The callback URL to configure in the Nexconn console. Nexconn appends `nonce`, a timestamp and',
        '`signature` = hex(SHA1(App Secret + nonce + timestamp)) to the query (names configurable); calls',
        `with a wrong signature, a timestamp older than ${config.maxAgeS} s or more than a few seconds ahead, or a`,
        'signature already used for another event (a replayed URL), are refused with 401.',
        'An event id seen in the last 24 h is acknowledged as `duplicate` without acting again.',
        '`user:activation_state` with `operationType` 0 (user soft-deleted) drops the user\'s cached tokens on every',
        'replica; every other event type is acknowledged and ignored.'
      ].join(' '),
      querystring: Query,
      body: WebhookEvent,
      response: {
        200: WebhookAck,
        400: problemResponse('invalid_request'),
        401: problemResponse('invalid_token'),
        413: problemResponse('payload_too_large'),
        415: problemResponse('unsupported_media_type'),
        500: problemResponse('internal_error'),
        503: problemResponse('shutting_down', 'overloaded')
      }
    }
  }, async (request) => {
    const event = request.body
    await checkReplay(request, event)
    if (await memory.remember('event', event.id, '1', EVENT_MEMORY_MS) !== undefined) {
      request.log.info({ eventType: event.type }, 'webhook event already handled; ignored')
      return { status: 'duplicate' as const }
    }
    try {
      await act(event, request)
    } catch (err) {
      // Let Nexconn's retry of this event be acted on.
      await memory.forget('event', event.id)
      throw err
    }
    return { status: 'ok' as const }
  })
}

export default webhookRoutes
