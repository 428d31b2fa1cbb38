/**
 * How a user is named in caches. The name is opaque and derived from the App Secret: no user id
 * reaches Redis in clear, and a new App Secret (which invalidates every Nexconn token) yields new
 * names, so tokens of the old secret are never served. The hash tag `{...}` keeps one user's keys
 * in one Redis Cluster slot.
 */
import { createHmac } from 'node:crypto'

export function userKeyFor (appKey: string, appSecret: string, userId: string): string {
  const digest = createHmac('sha256', appSecret).update(userId).digest('base64url').slice(0, 32)
  return `{${appKey}:${digest}}`
}
