/**
 * Control API under the reserved prefix /_emulator/, for tests and tools in other processes (the
 * standalone emulator, `npm run dev`). Unsigned on purpose: it is a local test fixture, not part of the
 * emulated platform, and its calls are not counted in the statistics.
 *
 *   GET    /_emulator/health          {"ok":true,"appKey":…}
 *   GET    /_emulator/stats           EmulatorStats
 *   GET    /_emulator/requests        RecordedRequest[] (last 1000, oldest first)
 *   POST   /_emulator/reset           clears users, tokens, stats, faults, recorded requests
 *   POST   /_emulator/faults          body FaultSpec → 201
 *   DELETE /_emulator/faults          removes every fault
 *   POST   /_emulator/tokens/verify   {"token"} → tokenStatus
 *   GET    /_emulator/users/:id       profile, or 404
 *   POST   /_emulator/app-secret      {"secret"}: console secret rotation (invalidates every token)
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Core } from './core.ts'
import { readBody, sendJson } from './http-io.ts'

export const CONTROL_PREFIX = '/_emulator'

async function jsonInput (req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req)
  if (raw.tooLarge) throw new TypeError('body too large')
  if (raw.text.trim() === '') return {}
  const parsed: unknown = JSON.parse(raw.text)
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('body must be a JSON object')
  return parsed as Record<string, unknown>
}

export async function handleControl (core: Core, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const route = `${req.method ?? 'GET'} ${path.slice(CONTROL_PREFIX.length)}`
  try {
    if (route === 'GET /health') return sendJson(res, 200, { ok: true, appKey: core.appKey })
    if (route === 'GET /stats') return sendJson(res, 200, core.stats.snapshot(core.state.registeredUsers))
    if (route === 'GET /requests') return sendJson(res, 200, core.stats.requests())
    if (route === 'POST /reset') {
      core.reset()
      return sendJson(res, 200, { ok: true })
    }
    if (route === 'POST /faults') {
      core.faults.add(await jsonInput(req))
      return sendJson(res, 201, { ok: true })
    }
    if (route === 'DELETE /faults') {
      core.faults.clear()
      return sendJson(res, 200, { ok: true })
    }
    if (route === 'POST /tokens/verify') {
      const { token } = await jsonInput(req)
      if (typeof token !== 'string') throw new TypeError('token must be a string')
      return sendJson(res, 200, core.state.tokenStatus(token))
    }
    if (route === 'POST /app-secret') {
      const { secret } = await jsonInput(req)
      if (typeof secret !== 'string') throw new TypeError('secret must be a string')
      core.setAppSecret(secret)
      return sendJson(res, 200, { ok: true })
    }
    if (req.method === 'GET' && path.startsWith(`${CONTROL_PREFIX}/users/`)) {
      const userId = decodeURIComponent(path.slice(`${CONTROL_PREFIX}/users/`.length))
      const user = core.state.user(userId)
      return user ? sendJson(res, 200, user) : sendJson(res, 404, { error: 'no such user' })
    }
    return sendJson(res, 404, { error: `no control endpoint ${route}` })
  } catch (err) {
    // Bad input from the caller (TypeError from validation, SyntaxError from JSON.parse).
    const message = err instanceof Error ? err.message : String(err)
    return sendJson(res, 400, { error: message })
  }
}
