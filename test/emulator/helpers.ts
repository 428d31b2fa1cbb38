/** Shared test helpers: start an emulator bound to a test's lifetime, and make signed calls to it. */
import { randomInt } from 'node:crypto'
import { request } from 'undici'
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/index.ts'
import { sign } from '../../src/emulator/signature.ts'

export const ISSUE = '/v4/auth/access-token/issue'
export const EXPIRE = '/v4/auth/access-token/expire'
export const USER_GET = '/v4/user/get'
export const USER_UPDATE = '/v4/user/update'
export const LEGACY_GET_TOKEN = '/user/getToken.json'
export const LEGACY_EXPIRE = '/user/token/expire.json'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** Starts an emulator that the test closes when it ends. */
export async function start (t: Teardown, opts: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await startEmulator(opts)
  t.teardown(() => emu.close())
  return emu
}

export function newNonce (): string {
  return String(randomInt(1, 2 ** 47))
}

export interface SignOptions {
  appKey?: string
  secret?: string
  nonce?: string
  timestamp?: string
  signature?: string
  /** 'rc' sends the RC-App-Key… header names. */
  style?: 'plain' | 'rc'
}

export function signedHeaders (emu: Emulator, o: SignOptions = {}): Record<string, string> {
  const nonce = o.nonce ?? newNonce()
  const timestamp = o.timestamp ?? String(Date.now())
  const signature = o.signature ?? sign(o.secret ?? emu.appSecret, nonce, timestamp)
  const p = o.style === 'rc' ? 'RC-' : ''
  return {
    [`${p}App-Key`]: o.appKey ?? emu.appKey,
    [`${p}Nonce`]: nonce,
    [`${p}Timestamp`]: timestamp,
    [`${p}Signature`]: signature,
  }
}

export interface CallOptions {
  port?: number
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Replaces the signing headers entirely (to test missing ones). */
  headers?: Record<string, string>
  sign?: SignOptions
  /** Raw body and its content type, instead of JSON. */
  raw?: { body: string; contentType?: string }
  signal?: AbortSignal
}

export interface CallResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: any
}

/** A signed JSON POST (by default) to the emulator, answered in full. */
export async function call (emu: Emulator, path: string, body?: unknown, o: CallOptions = {}): Promise<CallResult> {
  const url = `${emu.urls[o.port ?? 0]}${path}`
  const headers: Record<string, string> = { ...(o.headers ?? signedHeaders(emu, o.sign)) }
  let payload: string | undefined
  if (o.raw) {
    payload = o.raw.body
    if (o.raw.contentType) headers['content-type'] = o.raw.contentType
  } else if (body !== undefined) {
    payload = JSON.stringify(body)
    headers['content-type'] = 'application/json'
  }
  const res = await request(url, { method: o.method ?? 'POST', headers, body: payload, signal: o.signal })
  const text = await res.body.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.statusCode, headers: res.headers, text, json }
}

/** Form-urlencoded signed POST for the legacy endpoints. */
export function callForm (emu: Emulator, path: string, form: URLSearchParams, o: CallOptions = {}): Promise<CallResult> {
  return call(emu, path, undefined, { ...o, raw: { body: form.toString(), contentType: 'application/x-www-form-urlencoded' } })
}

/** Issues a token and returns it (asserting nothing; tests check the result themselves). */
export async function issue (emu: Emulator, userId: string, name = 'Test User', port = 0): Promise<string> {
  const res = await call(emu, ISSUE, { userId, name }, { port })
  if (res.status !== 200) throw new Error(`issue failed: ${res.status} ${res.text}`)
  return res.json.result.accessToken as string
}

/** Control API call (unsigned JSON). */
export async function control (emu: Emulator, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, port = 0): Promise<CallResult> {
  return call(emu, `/_emulator${path}`, body, { port, method, headers: {} })
}
