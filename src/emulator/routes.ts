/**
 * The emulated endpoints: v4 JSON API and the legacy RongCloud form endpoints, all POST and signed.
 * Each route validates its input, acts on the shared state, and can also describe a success-shaped
 * answer that changes nothing, which the drip/malformed/wrong_user faults send instead.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { BusinessError, type Reply } from './errors.ts'
import type { EmulatorState } from './state.ts'
import { newAccessToken } from './state.ts'
import * as v from './validate.ts'

export interface RouteRequest {
  headers: IncomingHttpHeaders
  body: string
}

export interface Route {
  readonly path: string
  handle(req: RouteRequest, state: EmulatorState): Reply
  /** Body of a plausible success that touches no state. */
  fakeSuccess(req: RouteRequest, state: EmulatorState): unknown
  /** Token-issuing routes only: the success body carrying `token` for `userId`. */
  tokenBody?(userId: string, token: string): unknown
}

export const ISSUE_PATH = '/v4/auth/access-token/issue'
export const EXPIRE_PATH = '/v4/auth/access-token/expire'
export const USER_GET_PATH = '/v4/user/get'
export const USER_UPDATE_PATH = '/v4/user/update'
export const USER_SOFT_DELETE_PATH = '/v4/user/soft-delete'
export const USER_RESTORE_PATH = '/v4/user/restore'
export const LEGACY_GET_TOKEN_PATH = '/user/getToken.json'
export const LEGACY_EXPIRE_PATH = '/user/token/expire.json'

function ok (result?: unknown): Reply {
  return { status: 200, code: 0, success: true, body: result === undefined ? { code: 0 } : { code: 0, result } }
}

function legacyOk (fields: Record<string, unknown> = {}): Reply {
  return { status: 200, code: 200, success: true, body: { code: 200, ...fields } }
}

/** Best-effort userId from a body nothing validated yet (JSON or a legacy form); undefined if none. */
export function bodyUserId (req: RouteRequest): string | undefined {
  try {
    const parsed: unknown = JSON.parse(req.body)
    if (parsed && typeof parsed === 'object' && 'userId' in parsed && typeof parsed.userId === 'string') {
      return parsed.userId
    }
  } catch {
    // not JSON: maybe a legacy form body
  }
  return new URLSearchParams(req.body).get('userId') ?? undefined
}

function looseUserId (req: RouteRequest): string {
  return bodyUserId(req) ?? 'user'
}

const issueBody = (userId: string, accessToken: string) => ({ code: 0, result: { userId, accessToken } })
const legacyTokenBody = (userId: string, token: string) => ({ code: 200, userId, token })

const issue: Route = {
  path: ISSUE_PATH,
  handle (req, state) {
    const body = v.parseJsonBody(req.headers, req.body)
    const userId = v.userId(body.userId)
    const name = v.displayName(body.name, true) ?? ''
    const avatarUrl = v.avatarUrl(body.avatarUrl)
    const accessToken = state.issueToken(userId, name, avatarUrl)
    return { ...ok({ userId, accessToken }), issuedFor: userId }
  },
  fakeSuccess: (req) => issueBody(looseUserId(req), newAccessToken()),
  tokenBody: issueBody,
}

const expire: Route = {
  path: EXPIRE_PATH,
  handle (req, state) {
    const body = v.parseJsonBody(req.headers, req.body)
    const userIds = v.userIdList(body.userIds)
    state.revokeBefore(userIds, v.epochMs(body.expiresAt, 'expiresAt'))
    return ok()
  },
  fakeSuccess: () => ({ code: 0 }),
}

const userGet: Route = {
  path: USER_GET_PATH,
  handle (req, state) {
    const body = v.parseJsonBody(req.headers, req.body)
    const userId = v.userId(body.userId)
    const user = state.user(userId)
    if (!user) throw new BusinessError(400, 'user ID does not exist')
    return ok({ name: user.name, avatarUrl: user.avatarUrl ?? '', createdAt: user.createdAt })
  },
  fakeSuccess (req, state) {
    const user = state.user(looseUserId(req))
    const createdAt = user?.createdAt ?? '2026-01-01 00:00:00'
    return { code: 0, result: { name: user?.name ?? 'user', avatarUrl: user?.avatarUrl ?? '', createdAt } }
  },
}

const userUpdate: Route = {
  path: USER_UPDATE_PATH,
  handle (req, state) {
    const body = v.parseJsonBody(req.headers, req.body)
    const userId = v.userId(body.userId)
    const name = v.displayName(body.name, false)
    const avatarUrl = v.avatarUrl(body.avatarUrl)
    const patch: { name?: string; avatarUrl?: string } = {}
    if (name !== undefined) patch.name = name
    if (avatarUrl !== undefined) patch.avatarUrl = avatarUrl
    state.updateUser(userId, patch)
    return ok()
  },
  fakeSuccess: () => ({ code: 0 }),
}

const softDelete: Route = {
  path: USER_SOFT_DELETE_PATH,
  handle (req, state) {
    const body = v.parseJsonBody(req.headers, req.body)
    const userIds = v.userIdList(body.userIds, 'userIds', v.MAX_USER_IDS_PER_SOFT_DELETE)
    return ok({ operationId: state.softDelete(userIds) })
  },
  fakeSuccess: () => ({ code: 0, result: { operationId: 'op' } }),
}

const restore: Route = {
  path: USER_RESTORE_PATH,
  handle (req, state) {
    const body = v.parseJsonBody(req.headers, req.body)
    state.restore(v.userIdList(body.userIds, 'userIds', v.MAX_USER_IDS_PER_SOFT_DELETE))
    return ok()
  },
  fakeSuccess: () => ({ code: 0 }),
}

const legacyGetToken: Route = {
  path: LEGACY_GET_TOKEN_PATH,
  handle (req, state) {
    const form = v.parseFormBody(req.headers, req.body)
    const userId = v.userId(form.get('userId') ?? undefined)
    const name = v.displayName(form.get('name') ?? undefined, true) ?? ''
    const portraitUri = v.avatarUrl(form.get('portraitUri') ?? undefined, 'portraitUri')
    const token = state.issueToken(userId, name, portraitUri)
    return { ...legacyOk({ userId, token }), issuedFor: userId }
  },
  fakeSuccess: (req) => legacyTokenBody(looseUserId(req), newAccessToken()),
  tokenBody: legacyTokenBody,
}

const legacyExpire: Route = {
  path: LEGACY_EXPIRE_PATH,
  handle (req, state) {
    const form = v.parseFormBody(req.headers, req.body)
    const userIds = v.userIdList(form.getAll('userId'), 'userId')
    const time = form.get('time')
    state.revokeBefore(userIds, time === null ? Date.now() : v.formEpochMs(time, 'time'))
    return legacyOk()
  },
  fakeSuccess: () => ({ code: 200 }),
}

export const ROUTES: ReadonlyMap<string, Route> = new Map(
  [issue, expire, userGet, userUpdate, softDelete, restore, legacyGetToken, legacyExpire].map((r) => [r.path, r])
)
