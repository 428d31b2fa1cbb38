/** Signed webhook calls, as Nexconn (RongCloud) makes them: signature in the query string. */
import { randomUUID } from 'node:crypto'
import type { App } from '../../src/app.ts'
import { sign } from '../../src/emulator/signature.ts'

export interface SignOptions {
  secret: string
  appKey?: string | undefined
  nonce?: string
  timestamp?: string
  /** Replaces the computed signature. */
  signature?: string
  names?: { nonce?: string, timestamp?: string, signature?: string }
  /** Parameters to leave out. */
  omit?: string[]
}

export function webhookUrl (options: SignOptions): string {
  const nonce = options.nonce ?? String(Math.floor(Math.random() * 1e9))
  const timestamp = options.timestamp ?? String(Date.now())
  const params: Record<string, string> = {
    ...(options.appKey === undefined ? {} : { appKey: options.appKey }),
    [options.names?.nonce ?? 'nonce']: nonce,
    [options.names?.timestamp ?? 'signTimestamp']: timestamp,
    [options.names?.signature ?? 'signature']: options.signature ?? sign(options.secret, nonce, timestamp)
  }
  for (const name of options.omit ?? []) delete params[name]
  return `/v1/webhooks/nexconn?${new URLSearchParams(params).toString()}`
}

export function activationEvent (items: Array<Record<string, unknown>>, id: string = randomUUID()): Record<string, unknown> {
  return { type: 'user:activation_state', id, time: Date.now(), data: items.map((item) => ({ operateId: 'op1', code: 200, time: Date.now(), ...item })) }
}

export function connectionEvent (userId: string, id: string = randomUUID()): Record<string, unknown> {
  return { type: 'user:connection_status', id, time: Date.now(), data: [{ userId, status: '0', os: 'iOS', time: Date.now(), clientIp: '10.0.0.1', sessionId: 's1' }] }
}

export async function postWebhook (app: App, secret: string, appKey: string, payload: unknown, options: Partial<SignOptions> = {}): Promise<Awaited<ReturnType<App['inject']>>> {
  return await app.inject({
    method: 'POST',
    url: webhookUrl({ secret, appKey, ...options }),
    headers: { 'content-type': 'application/json' },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload)
  })
}
