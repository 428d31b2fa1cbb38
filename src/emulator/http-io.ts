/**
 * Low-level HTTP helpers: reading bodies, writing JSON, and the deliberately broken ways of answering
 * that faults need (byte-by-byte, truncated, TCP reset). Plain node:http, because faults need the socket.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'

/** Bodies of the emulated endpoints are tiny; anything bigger is refused rather than buffered. */
export const MAX_BODY_BYTES = 64 * 1024

export interface RawBody {
  text: string
  tooLarge: boolean
}

/** Reads the whole body; rejects if the client goes away first. */
export function readBody (req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<RawBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) chunks.push(chunk)
    })
    req.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), tooLarge: size > limit }))
    req.on('error', reject)
    // 'close' before 'end' means the client hung up mid-body ('aborted' is deprecated).
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the request before sending its body'))
    })
  })
}

/** Path without the query string. */
export function pathOf (url: string | undefined): string {
  const raw = url ?? '/'
  const q = raw.indexOf('?')
  return q === -1 ? raw : raw.slice(0, q)
}

/** Headers as plain strings (lowercase names; repeated values joined as Node joins them). */
export function flattenHeaders (headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

export function jsonBytes (body: unknown): Buffer {
  return Buffer.from(JSON.stringify(body), 'utf8')
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = jsonBytes(body)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(payload.length),
  })
  res.end(payload)
}

/**
 * A complete, valid response sent one byte at a time: headers at once, then a byte every `ms`. Stops
 * quietly when the client hangs up or the emulator closes.
 */
export async function drip (res: ServerResponse, status: number, body: unknown, ms: number, lifetime: AbortSignal): Promise<void> {
  const payload = jsonBytes(body)
  const hungUp = new AbortController()
  res.once('close', () => hungUp.abort())
  const signal = AbortSignal.any([lifetime, hungUp.signal])
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length) })
  res.flushHeaders()
  try {
    for (let i = 0; i < payload.length; i += 1) {
      await sleep(ms, undefined, { signal })
      if (i === payload.length - 1) res.end(payload.subarray(i))
      else res.write(payload.subarray(i, i + 1))
    }
  } catch {
    // aborted: the client or the emulator went away; nothing left to send to
  }
}

/** HTTP 200 whose JSON is cut in half: a proper prefix of a JSON object is never valid JSON. */
export function sendMalformed (res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body)
  const payload = Buffer.from(text.slice(0, Math.max(1, Math.floor(text.length / 2))), 'utf8')
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length) })
  res.end(payload)
}

/** Drops the connection with a TCP RST and no response, as a crashing upstream or proxy would. */
export function resetConnection (req: IncomingMessage): void {
  req.socket.resetAndDestroy()
}
