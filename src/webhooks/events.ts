/**
 * The webhook envelope Nexconn posts, and what the broker reads from it. Extra fields are
 * allowed everywhere: Nexconn may add some at any time, and refusing them would lose events.
 */
import { Type, type Static } from 'typebox'

export const MAX_EVENT_ITEMS = 1000

export const WebhookEvent = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 128, description: 'Event type, e.g. `user:activation_state`.' }),
  id: Type.String({ minLength: 1, maxLength: 128, description: 'Event id; an id already seen within 24 h is acknowledged and ignored.' }),
  time: Type.Number({ description: 'When the event happened, epoch milliseconds.' }),
  data: Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: MAX_EVENT_ITEMS, description: 'The event\'s items; their shape depends on `type`.' })
}, { additionalProperties: true, description: 'A Nexconn webhook event.' })
export type WebhookEventBody = Static<typeof WebhookEvent>

export const ACTIVATION_STATE = 'user:activation_state'
export const CONNECTION_STATUS = 'user:connection_status'

/** The user ids the broker can have issued tokens for (as `/v1/admin/revoke` accepts them). */
const USER_ID = /^[A-Za-z0-9]{1,64}$/

/** `operationType` 0 = soft-deleted (1 = restored); Nexconn's numbers sometimes arrive as strings. */
function isSoftDelete (operationType: unknown): boolean {
  return operationType === 0 || operationType === '0'
}

/**
 * Distinct users an `user:activation_state` event soft-deletes. Items that are not soft-deletes or
 * carry no usable user id are skipped (counted by the caller, never logged).
 */
export function softDeletedUsers (event: WebhookEventBody): string[] {
  if (event.type !== ACTIVATION_STATE) return []
  const users = new Set<string>()
  for (const item of event.data as Array<Record<string, unknown>>) {
    const userId = item.userId
    if (isSoftDelete(item.operationType) && typeof userId === 'string' && USER_ID.test(userId)) users.add(userId)
  }
  return [...users]
}
