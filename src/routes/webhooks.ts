/**
 * Nexconn webhooks (`WEBHOOK_ENABLED=true`): `POST /v1/webhooks/nexconn`. Being written; see issue 6.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { Config } from '../config.ts'

export interface WebhookRoutesOptions {
  config: Config['ops']['webhook']
  appKey: string
  appSecret: string
  /** Redis key prefix for remembered event ids. */
  keyPrefix: string
}

const webhookRoutes: FastifyPluginAsync<WebhookRoutesOptions> = async () => {}

export default webhookRoutes
