/**
 * Run-time checks of the broker's bodies against the field kinds generated from its spec: an
 * answer that is not the broker's (a proxy, a captive portal, a version mismatch) becomes a
 * typed `unexpected_response` instead of an undefined token handed to the chat SDK.
 */
import { PROBLEM_CODES, PROBLEM_FIELDS, TOKEN_RESPONSE_FIELDS, type JsonKind, type Problem, type TokenResponse } from './api.generated.ts'

function kindOf (value: unknown, present: boolean): JsonKind {
  if (!present) return 'absent'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value as JsonKind
}

function matches (value: unknown, fields: Record<string, readonly JsonKind[]>): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const record = value as Record<string, unknown>
  return Object.entries(fields).every(([field, kinds]) => kinds.includes(kindOf(record[field], Object.hasOwn(record, field))))
}

export function isTokenResponse (value: unknown): value is TokenResponse {
  if (!matches(value, TOKEN_RESPONSE_FIELDS)) return false
  const body = value as TokenResponse
  return body.token !== '' && !Number.isNaN(Date.parse(body.issuedAt)) && (body.expiresAt === null || !Number.isNaN(Date.parse(body.expiresAt)))
}

export function isProblem (value: unknown): value is Problem {
  return matches(value, PROBLEM_FIELDS) && (PROBLEM_CODES as readonly string[]).includes((value as Problem).code)
}
