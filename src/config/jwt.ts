/**
 * Which end-user JWTs the broker accepts: one or more *providers* (identity providers), each with
 * its key source, pinned algorithms, accepted issuers, audiences or client ids, and claim mapping.
 *
 * Configured either by the single-issuer variables (JWT_SECRET | JWT_PUBLIC_KEY | JWT_JWKS_URL |
 * JWT_OIDC_ISSUER, with JWT_ISSUER, JWT_AUDIENCE, …), or by JWT_ISSUERS_FILE: a JSON or YAML list
 * of issuers, for teams that trust several at once (a migration from Firebase to Auth0, a web app
 * on Keycloak and a partner app on Entra ID). A token's `iss` selects its provider before any
 * signature work. Every entry is validated here, with one problem per mistake.
 */
import type { KeyObject } from 'node:crypto'
import { parse as parseYaml } from 'yaml'
import { splitList, type EnvReader } from './env-reader.ts'
import { ASYMMETRIC_ALGORITHMS, checkAlgorithms, HMAC_ALGORITHMS, keyAlgorithms, parsePublicKey, type JwtAlgorithm } from './jwt-algorithms.ts'

export const MIN_JWT_SECRET_BYTES = 32
export const MAX_TOKEN_BYTES = 8192
export const TOKEN_USES = ['access', 'id'] as const
export type TokenUse = typeof TOKEN_USES[number]

export type JwtKeySource =
  | { mode: 'secret', secret: string }
  | { mode: 'public_key', publicKey: KeyObject, keyType: string }
  | { mode: 'jwks', jwksUrl: URL }
  /** OIDC discovery: the JWKS URL is read from `<issuer>/.well-known/openid-configuration`. */
  | { mode: 'discovery', issuerUrl: URL }

export interface JwtProvider {
  /** Names the provider in logs, metrics labels and readiness: its first issuer, or `default`. */
  label: string
  key: JwtKeySource
  algorithms: JwtAlgorithm[]
  /** Accepted `iss` values (exact). Empty only for a single secret or PEM key set by variables: any `iss`. */
  issuers: string[]
  /** Accepted `aud` values (exact). */
  audiences: string[]
  /** Cognito-style: an access token whose `client_id`, or an ID token whose `aud`, is listed. */
  clientIds: string[]
  /** Accepted `token_use` values; empty = not checked. */
  tokenUse: TokenUse[]
  userIdClaim: string
  /** Letters and digits put before the user id, to keep two issuers' users apart. */
  userIdPrefix: string
  nameClaim: string
  avatarClaim: string
  userIdMode: 'raw' | 'hash'
}

export interface JwtConfig {
  providers: JwtProvider[]
  clockToleranceS: number
  /** Tokens longer than this are rejected before any cryptography. */
  maxTokenBytes: number
}

const KEY_VARIABLES = ['JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_JWKS_URL', 'JWT_OIDC_ISSUER'] as const
/** Settings of the single-issuer mode that an issuers file replaces. */
const SINGLE_ISSUER_VARIABLES = [...KEY_VARIABLES, 'JWT_ALGORITHMS', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_CLIENT_IDS', 'JWT_TOKEN_USE'] as const
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor'])

/** Claim names as identity providers write them: an exact key first, else a dotted path. */
export function checkClaimName (raw: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (raw === '' || raw.length > 256 || /[\u0000-\u001f\u007f]/.test(raw)) return 'must be a claim name of 1 to 256 printable characters'
  if (raw.split('.').some((part) => FORBIDDEN_SEGMENTS.has(part))) return 'must not name __proto__, prototype or constructor'
  return undefined
}

interface ClaimDefaults { userIdClaim: string, nameClaim: string, avatarClaim: string, userIdMode: 'raw' | 'hash' }

export function parseJwt (reader: EnvReader): JwtConfig {
  const clockToleranceS = reader.int('JWT_CLOCK_TOLERANCE_S', 0, 300)
  const defaults: ClaimDefaults = {
    userIdClaim: claimSetting(reader, 'JWT_USER_ID_CLAIM'),
    nameClaim: claimSetting(reader, 'JWT_NAME_CLAIM'),
    avatarClaim: claimSetting(reader, 'JWT_AVATAR_CLAIM'),
    userIdMode: reader.oneOf('USER_ID_MODE', ['raw', 'hash'] as const)
  }
  const file = reader.optionalString('JWT_ISSUERS_FILE')
  const providers = file === undefined ? [singleProvider(reader, defaults)] : fileProviders(reader, file, defaults)
  return { providers: providers.filter((p): p is JwtProvider => p !== undefined), clockToleranceS, maxTokenBytes: MAX_TOKEN_BYTES }
}

function claimSetting (reader: EnvReader, name: string): string {
  const raw = reader.string(name)
  const problem = checkClaimName(raw)
  if (problem !== undefined) reader.problem(`${name} ${problem}; got "${raw.slice(0, 64)}".`)
  return raw
}

/** The provider described by the single-issuer variables. */
function singleProvider (reader: EnvReader, defaults: ClaimDefaults): JwtProvider | undefined {
  const values = Object.fromEntries(KEY_VARIABLES.map((name) => [name, reader.optionalString(name)]))
  const set = KEY_VARIABLES.filter((name) => values[name] !== undefined)
  const issuers = splitList(reader.optionalString('JWT_ISSUER') ?? '')
  const audiences = splitList(reader.optionalString('JWT_AUDIENCE') ?? '')
  const clientIds = splitList(reader.optionalString('JWT_CLIENT_IDS') ?? '')
  const tokenUse = parseTokenUse(reader, 'JWT_TOKEN_USE', splitList(reader.optionalString('JWT_TOKEN_USE') ?? ''))
  const requested = splitList(reader.optionalString('JWT_ALGORITHMS') ?? '')
  if (set.length !== 1) {
    reader.problem(set.length === 0
      ? 'Set exactly one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL or JWT_OIDC_ISSUER (or JWT_ISSUERS_FILE): how end-user JWTs are verified.'
      : `Set exactly one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL or JWT_OIDC_ISSUER; found ${set.join(' and ')}.`)
    return undefined
  }
  const keyVariable = set[0] ?? 'JWT_SECRET'
  const raw = values[keyVariable] ?? ''
  const key = keySource(reader, keyVariable, raw)
  if (key === undefined) return undefined
  if (key.mode === 'discovery') {
    // The issuer exactly as its tokens and its discovery document name it (Auth0's ends with "/").
    if (issuers.length > 0 && !(issuers.length === 1 && issuers[0] === raw)) reader.problem('JWT_ISSUER must be unset, or equal JWT_OIDC_ISSUER (the issuer the discovery document must name).')
    issuers.splice(0, issuers.length, raw)
  }
  if ((key.mode === 'jwks') && issuers.length === 0) reader.problem('JWT_ISSUER is required with JWT_JWKS_URL (the `iss` your identity provider puts in tokens).')
  if ((key.mode === 'jwks' || key.mode === 'discovery') && audiences.length === 0 && clientIds.length === 0) {
    reader.problem(`JWT_AUDIENCE (or JWT_CLIENT_IDS) is required with ${keyVariable} (the \`aud\` your identity provider puts in tokens, or its app client ids).`)
  }
  return {
    label: issuers[0] ?? 'default',
    key,
    algorithms: algorithmsFor(reader, 'JWT_ALGORITHMS', key, requested),
    issuers,
    audiences,
    clientIds,
    tokenUse,
    userIdPrefix: '',
    ...defaults
  }
}

function keySource (reader: EnvReader, what: string, raw: string, field: 'secret' | 'public_key' | 'jwks' | 'discovery' = modeOf(what)): JwtKeySource | undefined {
  switch (field) {
    case 'secret':
      if (Buffer.byteLength(raw) < MIN_JWT_SECRET_BYTES) reader.problem(`${what} must be at least ${MIN_JWT_SECRET_BYTES} bytes long.`)
      return { mode: 'secret', secret: raw }
    case 'public_key': {
      const parsed = parsePublicKey(reader, raw, what)
      return parsed === undefined ? undefined : { mode: 'public_key', publicKey: parsed.key, keyType: parsed.keyType }
    }
    case 'jwks': {
      const url = reader.url(what, raw, false)
      return url === undefined ? undefined : { mode: 'jwks', jwksUrl: url }
    }
    case 'discovery': {
      const url = reader.url(what, raw, false)
      return url === undefined ? undefined : { mode: 'discovery', issuerUrl: url }
    }
  }
}

function modeOf (variable: string): 'secret' | 'public_key' | 'jwks' | 'discovery' {
  if (variable === 'JWT_PUBLIC_KEY') return 'public_key'
  if (variable === 'JWT_JWKS_URL') return 'jwks'
  if (variable === 'JWT_OIDC_ISSUER') return 'discovery'
  return 'secret'
}

function algorithmsFor (reader: EnvReader, what: string, key: JwtKeySource, requested: string[]): JwtAlgorithm[] {
  switch (key.mode) {
    case 'secret':
      return checkAlgorithms(reader, what, requested, ['HS256'], HMAC_ALGORITHMS, 'an HMAC secret')
    case 'public_key': {
      const { allowed, fallback } = keyAlgorithms(key.publicKey)
      return checkAlgorithms(reader, what, requested, [fallback], allowed, `a ${key.keyType} key`)
    }
    default:
      return checkAlgorithms(reader, what, requested, ['RS256'], ASYMMETRIC_ALGORITHMS, 'a JWKS')
  }
}

function parseTokenUse (reader: EnvReader, what: string, values: unknown[]): TokenUse[] {
  const result: TokenUse[] = []
  for (const value of values) {
    if (typeof value === 'string' && (TOKEN_USES as readonly string[]).includes(value)) result.push(value as TokenUse)
    else reader.problem(`${what} accepts access, id or both; got "${String(value).slice(0, 32)}".`)
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// JWT_ISSUERS_FILE

/** Every field an entry of the issuers file may have. */
const ENTRY_FIELDS = new Set([
  'issuer', 'audiences', 'clientIds', 'tokenUse', 'jwksUrl', 'discovery', 'publicKey', 'publicKeyFile', 'secret', 'secretFile',
  'algorithms', 'userIdClaim', 'userIdPrefix', 'nameClaim', 'avatarClaim', 'userIdMode'
])
const KEY_FIELDS = ['jwksUrl', 'discovery', 'publicKey', 'publicKeyFile', 'secret', 'secretFile'] as const

function fileProviders (reader: EnvReader, path: string, defaults: ClaimDefaults): Array<JwtProvider | undefined> {
  const alsoSet = SINGLE_ISSUER_VARIABLES.filter((name) => reader.optionalString(name) !== undefined)
  if (alsoSet.length > 0) reader.problem(`JWT_ISSUERS_FILE replaces ${alsoSet.join(', ')}: set them in the file, per issuer.`)
  const text = reader.readText('JWT_ISSUERS_FILE', path)
  if (text === undefined) return []
  let document: unknown
  try {
    // YAML 1.2 reads JSON as well.
    document = parseYaml(text, { maxAliasCount: 0 })
  } catch {
    reader.problem(`JWT_ISSUERS_FILE (${path}) is neither JSON nor YAML.`)
    return []
  }
  const entries = Array.isArray(document) ? document : isRecord(document) && Array.isArray(document.issuers) ? document.issuers as unknown[] : undefined
  if (entries === undefined || entries.length === 0) {
    reader.problem(`JWT_ISSUERS_FILE (${path}) must hold a non-empty list of issuers (or an object with an "issuers" list).`)
    return []
  }
  const seen = new Set<string>()
  return entries.map((entry, index) => {
    const provider = fileEntry(reader, entry, `JWT_ISSUERS_FILE entry ${index + 1}`, defaults)
    for (const issuer of provider?.issuers ?? []) {
      if (seen.has(issuer)) reader.problem(`JWT_ISSUERS_FILE entry ${index + 1}: issuer ${issuer} is listed twice; a token's iss must select one entry.`)
      seen.add(issuer)
    }
    return provider
  })
}

function fileEntry (reader: EnvReader, entry: unknown, at: string, defaults: ClaimDefaults): JwtProvider | undefined {
  if (!isRecord(entry)) {
    reader.problem(`${at} must be an object with at least "issuer" and a key source.`)
    return undefined
  }
  const issuer = entry.issuer
  if (typeof issuer !== 'string' || issuer.trim() === '' || issuer.length > 512) {
    reader.problem(`${at}: "issuer" must be the exact iss of its tokens (a non-empty string).`)
    return undefined
  }
  const where = `${at} (${issuer})`
  let valid = true
  const problem = (message: string): void => {
    valid = false
    reader.problem(`${where}: ${message}`)
  }
  for (const field of Object.keys(entry)) {
    if (!ENTRY_FIELDS.has(field)) problem(`unknown field "${field}"${suggestion(field, [...ENTRY_FIELDS])}.`)
  }

  const sources = KEY_FIELDS.filter((field) => entry[field] !== undefined && entry[field] !== false)
  if (sources.length !== 1) {
    problem(`set exactly one of jwksUrl, discovery: true, publicKey, publicKeyFile, secret or secretFile${sources.length > 1 ? `; found ${sources.join(' and ')}` : ''}.`)
    return undefined
  }
  const source = sources[0] ?? 'jwksUrl'
  const text = (field: string): string | undefined => {
    const value = entry[field]
    if (typeof value !== 'string' || value === '') {
      problem(`"${field}" must be a non-empty string.`)
      return undefined
    }
    return value
  }
  let key: JwtKeySource | undefined
  if (source === 'discovery') {
    if (entry.discovery !== true) problem('"discovery" must be true (the JWKS URL is then read from the issuer\'s OIDC discovery document).')
    else key = keySource(reader, `${where}: issuer`, issuer, 'discovery')
  } else if (source === 'jwksUrl') {
    const url = text('jwksUrl')
    if (url !== undefined) key = keySource(reader, `${where}: jwksUrl`, url, 'jwks')
  } else {
    const fromFile = source === 'publicKeyFile' || source === 'secretFile'
    const value = text(source)
    const material = value === undefined ? undefined : fromFile ? reader.readText(`${where}: ${source}`, value) : value
    if (material !== undefined) key = keySource(reader, `${where}: ${source.replace(/File$/, '')}`, material, source.startsWith('secret') ? 'secret' : 'public_key')
  }
  if (key === undefined) return undefined

  const list = (field: string): string[] => {
    const value = entry[field]
    if (value === undefined) return []
    const items = typeof value === 'string' ? splitList(value) : Array.isArray(value) ? value : undefined
    if (items === undefined || items.some((item) => typeof item !== 'string' || item === '')) {
      problem(`"${field}" must be a list of non-empty strings.`)
      return []
    }
    return items as string[]
  }
  const audiences = list('audiences')
  const clientIds = list('clientIds')
  if ((key.mode === 'jwks' || key.mode === 'discovery') && audiences.length === 0 && clientIds.length === 0) {
    problem('"audiences" (or "clientIds") is required with a JWKS or discovery: the aud your identity provider puts in tokens.')
  }
  const claim = (field: 'userIdClaim' | 'nameClaim' | 'avatarClaim'): string => {
    if (entry[field] === undefined) return defaults[field]
    const value = text(field) ?? defaults[field]
    const wrong = checkClaimName(value)
    if (wrong !== undefined) problem(`"${field}" ${wrong}.`)
    return value
  }
  const prefix = entry.userIdPrefix ?? ''
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9]{0,16}$/.test(prefix)) problem('"userIdPrefix" must be up to 16 letters and digits (Nexconn user ids allow nothing else).')
  const mode = entry.userIdMode ?? defaults.userIdMode
  if (mode !== 'raw' && mode !== 'hash') problem('"userIdMode" must be raw or hash.')
  const tokenUse = parseTokenUse(reader, `${where}: tokenUse`, list('tokenUse'))
  const algorithms = algorithmsFor(reader, `${where}: algorithms`, key, list('algorithms'))
  if (!valid) return undefined
  return {
    label: issuer,
    key,
    algorithms,
    issuers: [issuer],
    audiences,
    clientIds,
    tokenUse,
    userIdClaim: claim('userIdClaim'),
    userIdPrefix: typeof prefix === 'string' ? prefix : '',
    nameClaim: claim('nameClaim'),
    avatarClaim: claim('avatarClaim'),
    userIdMode: mode === 'hash' ? 'hash' : 'raw'
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** " (did you mean …?)" for a near miss, else "". */
export function suggestion (given: string, known: readonly string[]): string {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of known) {
    const distance = editDistance(given.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`
}

function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
