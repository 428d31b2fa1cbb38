/**
 * Configuration: every setting comes from an environment variable, is read once at start and
 * is checked against the one table of variables (`config/variables.ts`). Nothing else in the service reads
 * `process.env`. Problems are collected, not thrown one at a time, so an operator fixes a bad
 * deployment in one round; a secret's value is never repeated in a message.
 *
 * The README's configuration table is checked against `VARIABLES` by a test.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { ConfigError, EnvReader, isLoopbackHost, splitList, type Env, type HostPort } from './config/env-reader.ts'
import type { JwtAlgorithm } from './config/jwt-algorithms.ts'
import { parseJwt, type JwtConfig } from './config/jwt.ts'
import { VARIABLES, type VariableSpec } from './config/variables.ts'

export { ConfigError, isLoopbackHost, splitList, VARIABLES }
export type { Env, HostPort, JwtAlgorithm, VariableSpec }
export { ASYMMETRIC_ALGORITHMS, EC_ALGORITHMS, HMAC_ALGORITHMS, RSA_ALGORITHMS } from './config/jwt-algorithms.ts'
export { MIN_JWT_SECRET_BYTES, type JwtConfig, type JwtKeySource, type JwtProvider, type TokenUse } from './config/jwt.ts'

export type RunMode = 'production' | 'local'

export const REGIONS = {
  sg: ['https://api.sg-light-api.com', 'https://api-b.sg-light-api.com'],
  us: ['https://api.us-light-api.com', 'https://api-b.us-light-api.com'],
  sau: ['https://api.sau-light-api.com', 'https://api-b.sau-light-api.com']
} as const
export type Region = keyof typeof REGIONS

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const MIN_ADMIN_KEY_CHARS = 32

export interface EncryptionKey {
  /** Short fingerprint stored beside each ciphertext so the right key is picked on read. */
  id: string
  key: Buffer
}

/** TLS material read from the files named by `REDIS_TLS_*_FILE`; `undefined` = plain TCP. */
export interface RedisTls { ca?: string, cert?: string, key?: string }

/** What every mode shares: credentials (ACL user and password) and TLS. */
interface RedisCommon { keyPrefix: string, username?: string, password?: string, tls?: RedisTls }

export type RedisConfig =
  | RedisCommon & { mode: 'standalone', url: string }
  | RedisCommon & { mode: 'sentinel', sentinels: HostPort[], name: string }
  | RedisCommon & { mode: 'cluster', nodes: HostPort[] }

export interface Config {
  runMode: RunMode
  server: {
    host: string
    port: number
    logLevel: typeof LOG_LEVELS[number]
    trustProxy: boolean | number | string[]
    shutdownGraceMs: number
    shutdownDelayMs: number
    maxEventLoopDelayMs: number
    metricsPort: number | undefined
    docsEnabled: boolean
  }
  nexconn: {
    appKey: string
    appSecret: string
    region: Region
    /** Ordered base URLs without a trailing slash: the primary first. */
    apiUrls: string[]
    allowHttp: boolean
    timeoutMs: number
    deadlineMs: number
    /** Token lifetime set in the Nexconn console; 0 = tokens never expire. */
    tokenTtlS: number
    /** Business codes answered as `user_disabled`. */
    userDisabledCodes: number[]
  }
  jwt: JwtConfig
  /** `undefined`: in-memory cache only (a single instance). */
  redis: RedisConfig | undefined
  tokens: {
    encryptionKey: EncryptionKey | undefined
    oldEncryptionKeys: EncryptionKey[]
    cacheMaxAgeS: number
    memoryCacheUsers: number
  }
  adminApiKey: string | undefined
  ops: {
    corsOrigins: string[] | '*'
    rateLimitPerMinute: number
    authFailuresPerMinute: number
    webhook: {
      enabled: boolean
      nonceParam: string
      timestampParam: string
      signatureParam: string
      maxAgeS: number
    }
  }
}

export interface LoadOptions {
  runMode?: RunMode
  /** Injected for tests; defaults to reading the file as UTF-8. */
  readFile?: (path: string) => string
}

/** Short, non-reversible fingerprint of key material, safe to store and log. */
export function fingerprint (material: string | Buffer, length = 16): string {
  return createHash('sha256').update(material).digest('hex').slice(0, length)
}

/**
 * Reads and validates the configuration. Throws `ConfigError` listing every problem.
 */
export function loadConfig (env: Env, options: LoadOptions = {}): Config {
  const reader = new EnvReader(env, options.readFile ?? ((path) => readFileSync(path, 'utf8')))
  const runMode = options.runMode ?? 'production'

  const server: Config['server'] = {
    host: reader.string('HOST'),
    port: reader.int('PORT', 0, 65535),
    logLevel: reader.oneOf('LOG_LEVEL', LOG_LEVELS),
    trustProxy: parseTrustProxy(reader),
    shutdownGraceMs: reader.int('SHUTDOWN_GRACE_MS', 0, 600_000),
    shutdownDelayMs: reader.int('SHUTDOWN_DELAY_MS', 0, 600_000),
    maxEventLoopDelayMs: reader.int('MAX_EVENT_LOOP_DELAY_MS', 0, 60_000),
    metricsPort: reader.optionalInt('METRICS_PORT', 1, 65535),
    // Off in production unless asked for: the UI is for trying the API, not for a public port.
    docsEnabled: reader.optionalString('DOCS_ENABLED') === undefined ? env.NODE_ENV !== 'production' : reader.bool('DOCS_ENABLED')
  }
  if (server.metricsPort !== undefined && server.metricsPort === server.port) {
    reader.problem('METRICS_PORT must differ from PORT.')
  }

  const nexconn = parseNexconn(reader)
  // A request may wait on Nexconn for the whole deadline: a shorter grace would cut it off unanswered.
  if (server.shutdownGraceMs < nexconn.deadlineMs) {
    reader.problem(`SHUTDOWN_GRACE_MS (${server.shutdownGraceMs}) must be at least NEXCONN_DEADLINE_MS (${nexconn.deadlineMs}): a request waiting on Nexconn would be cut off at shutdown.`)
  }
  const jwt = parseJwt(reader)
  const redis = parseRedis(reader)
  const tokens = parseTokens(reader, redis)

  const adminApiKey = reader.optionalString('ADMIN_API_KEY')
  if (adminApiKey !== undefined && adminApiKey.length < MIN_ADMIN_KEY_CHARS) {
    reader.problem(`ADMIN_API_KEY must be at least ${MIN_ADMIN_KEY_CHARS} characters (generate one with: openssl rand -base64 32).`)
  }

  const ops: Config['ops'] = {
    corsOrigins: parseCorsOrigins(reader),
    rateLimitPerMinute: reader.int('RATE_LIMIT_PER_MINUTE', 0, 1_000_000),
    authFailuresPerMinute: reader.int('RATE_LIMIT_AUTH_FAILURES_PER_MINUTE', 0, 1_000_000),
    webhook: {
      enabled: reader.bool('WEBHOOK_ENABLED'),
      nonceParam: reader.queryName('WEBHOOK_NONCE_PARAM'),
      timestampParam: reader.queryName('WEBHOOK_TIMESTAMP_PARAM'),
      signatureParam: reader.queryName('WEBHOOK_SIGNATURE_PARAM'),
      maxAgeS: reader.int('WEBHOOK_MAX_AGE_S', 10, 86_400)
    }
  }

  if (runMode === 'production') {
    if (nexconn.appKey === '') reader.problem('NEXCONN_APP_KEY is required (the App Key from the Nexconn console).')
    if (nexconn.appSecret === '') reader.problem('NEXCONN_APP_SECRET (or NEXCONN_APP_SECRET_FILE) is required (the App Secret from the Nexconn console).')
  }

  reader.finish()
  return { runMode, server, nexconn, jwt, redis, tokens, adminApiKey, ops }
}

function parseTrustProxy (reader: EnvReader): Config['server']['trustProxy'] {
  const raw = reader.string('TRUST_PROXY')
  if (raw === 'true') return true
  if (raw === 'false' || raw === '') return false
  if (/^\d+$/.test(raw)) return Number(raw)
  const entries = splitList(raw)
  for (const entry of entries) {
    const [address, bits] = entry.split('/')
    if (address === undefined || isIP(address) === 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
      reader.problem(`TRUST_PROXY must be true, false, a hop count or a list of IPs/CIDRs; "${entry}" is none of these.`)
    }
  }
  return entries
}

function parseNexconn (reader: EnvReader): Config['nexconn'] {
  const region = reader.oneOf('NEXCONN_REGION', Object.keys(REGIONS) as Region[])
  const allowHttp = reader.bool('NEXCONN_ALLOW_HTTP')
  const explicit = reader.optionalString('NEXCONN_API_URLS')
  const apiUrls: string[] = []
  const listed = explicit === undefined ? [...REGIONS[region] ?? []] : splitList(explicit)
  for (const raw of listed) {
    const url = reader.url('NEXCONN_API_URLS', raw, allowHttp)
    if (url === undefined) continue
    if (url.search !== '' || url.hash !== '') reader.problem(`NEXCONN_API_URLS entries must not carry a query or fragment: ${url.origin}.`)
    apiUrls.push(url.href.replace(/\/+$/, ''))
  }
  if (listed.length === 0) reader.problem('NEXCONN_API_URLS must list at least one URL.')

  const timeoutMs = reader.int('NEXCONN_TIMEOUT_MS', 100, 60_000)
  const deadlineMs = reader.int('NEXCONN_DEADLINE_MS', 100, 120_000)
  if (deadlineMs < timeoutMs) reader.problem('NEXCONN_DEADLINE_MS must be at least NEXCONN_TIMEOUT_MS.')

  const appKey = reader.optionalString('NEXCONN_APP_KEY') ?? ''
  if (appKey !== '' && !/^[A-Za-z0-9_-]{1,64}$/.test(appKey)) reader.problem('NEXCONN_APP_KEY must be letters, digits, "-" or "_" (at most 64).')

  return {
    appKey,
    appSecret: reader.optionalString('NEXCONN_APP_SECRET') ?? '',
    region,
    apiUrls,
    allowHttp,
    timeoutMs,
    deadlineMs,
    tokenTtlS: reader.int('NEXCONN_TOKEN_TTL_S', 0, 10 * 365 * 86_400),
    userDisabledCodes: parseBusinessCodes(reader, 'NEXCONN_USER_DISABLED_CODES')
  }
}

function parseBusinessCodes (reader: EnvReader, name: string): number[] {
  const codes: number[] = []
  for (const entry of splitList(reader.optionalString(name) ?? '')) {
    if (!/^\d{1,9}$/.test(entry) || ['0', '200', '1008'].includes(entry)) {
      reader.problem(`${name} entries must be Nexconn business codes (not 0, 200 or 1008); got "${entry}".`)
      continue
    }
    codes.push(Number(entry))
  }
  return codes
}

function parseRedis (reader: EnvReader): RedisConfig | undefined {
  const url = reader.optionalString('REDIS_URL')
  const sentinels = reader.optionalString('REDIS_SENTINELS')
  const clusterNodes = reader.optionalString('REDIS_CLUSTER_NODES')
  const keyPrefix = reader.string('REDIS_KEY_PREFIX')
  const sentinelName = reader.optionalString('REDIS_SENTINEL_NAME')
  // No braces: the broker sets its own Cluster hash tags; a tag in the prefix would put every key in one slot.
  if (!/^[A-Za-z0-9:_.-]{0,64}$/.test(keyPrefix)) reader.problem('REDIS_KEY_PREFIX may hold letters, digits and : _ . - (at most 64); no braces, the broker sets its own Cluster hash tags.')

  const chosen = [url !== undefined && 'REDIS_URL', sentinels !== undefined && 'REDIS_SENTINELS', clusterNodes !== undefined && 'REDIS_CLUSTER_NODES'].filter(Boolean)
  if (chosen.length > 1) {
    reader.problem(`Set at most one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES; found ${chosen.join(' and ')}.`)
    return undefined
  }
  // Read even without a mode, so a mistyped secret file is reported rather than ignored.
  const common = parseRedisCommon(reader, keyPrefix, url?.startsWith('rediss:') === true)
  if (chosen.length === 0) return undefined
  if (url !== undefined) {
    let parsed: URL | undefined
    try { parsed = new URL(url) } catch { /* reported below */ }
    // The URL may carry a password: never echo it.
    if (parsed === undefined || !['redis:', 'rediss:'].includes(parsed.protocol) || parsed.hostname === '') {
      reader.problem('REDIS_URL must be a redis:// or rediss:// URL with a host.')
      return undefined
    }
    return { mode: 'standalone', url, ...common }
  }
  if (sentinels !== undefined) {
    if (sentinelName === undefined) reader.problem('REDIS_SENTINEL_NAME is required with REDIS_SENTINELS.')
    return { mode: 'sentinel', sentinels: reader.hostPorts('REDIS_SENTINELS', sentinels), name: sentinelName ?? '', ...common }
  }
  return { mode: 'cluster', nodes: reader.hostPorts('REDIS_CLUSTER_NODES', clusterNodes ?? ''), ...common }
}

/**
 * Credentials and TLS, the same in every mode: managed Redis (ElastiCache, Memorystore, Azure
 * Cache) wants an ACL user, TLS with a private CA and sometimes a client certificate.
 */
function parseRedisCommon (reader: EnvReader, keyPrefix: string, tlsFromUrl: boolean): RedisCommon {
  const username = reader.optionalString('REDIS_USERNAME')
  const password = reader.optionalString('REDIS_PASSWORD')
  const caFile = reader.optionalString('REDIS_TLS_CA_FILE')
  const certFile = reader.optionalString('REDIS_TLS_CERT_FILE')
  const keyFile = reader.optionalString('REDIS_TLS_KEY_FILE')
  if ((certFile === undefined) !== (keyFile === undefined)) reader.problem('REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both or neither.')
  if (username !== undefined && password === undefined) reader.problem('REDIS_USERNAME needs REDIS_PASSWORD (or REDIS_PASSWORD_FILE): an ACL user always authenticates with a password.')
  const useTls = reader.bool('REDIS_TLS') || tlsFromUrl || caFile !== undefined || certFile !== undefined
  const tls: RedisTls = {}
  const pem = (name: string, path: string | undefined): string | undefined => path === undefined ? undefined : reader.readText(name, path)
  const ca = pem('REDIS_TLS_CA_FILE', caFile)
  const cert = pem('REDIS_TLS_CERT_FILE', certFile)
  const key = pem('REDIS_TLS_KEY_FILE', keyFile)
  if (ca !== undefined) tls.ca = ca
  if (cert !== undefined) tls.cert = cert
  if (key !== undefined) tls.key = key
  return {
    keyPrefix,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(useTls ? { tls } : {})
  }
}

function parseTokens (reader: EnvReader, redis: RedisConfig | undefined): Config['tokens'] {
  const current = reader.optionalString('TOKEN_ENCRYPTION_KEY')
  const old = splitList(reader.optionalString('TOKEN_ENCRYPTION_KEYS_OLD') ?? '')
  const encryptionKey = current === undefined ? undefined : parseEncryptionKey(reader, 'TOKEN_ENCRYPTION_KEY', current)
  if (redis !== undefined && current === undefined) {
    reader.problem('TOKEN_ENCRYPTION_KEY is required with Redis (tokens are encrypted at rest). Generate one with: openssl rand -base64 32')
  }
  const oldEncryptionKeys = old
    .map((value, index) => parseEncryptionKey(reader, `TOKEN_ENCRYPTION_KEYS_OLD (entry ${index + 1})`, value))
    .filter((key): key is EncryptionKey => key !== undefined)
  return {
    encryptionKey,
    oldEncryptionKeys,
    cacheMaxAgeS: reader.int('TOKEN_CACHE_MAX_AGE_S', 60, 365 * 86_400),
    memoryCacheUsers: reader.int('TOKEN_MEMORY_CACHE_USERS', 100, 10_000_000)
  }
}

function parseEncryptionKey (reader: EnvReader, name: string, value: string): EncryptionKey | undefined {
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(value) ? Buffer.from(value, 'base64') : Buffer.alloc(0)
  if (key.length !== 32) {
    reader.problem(`${name} must be the base64 encoding of exactly 32 bytes. Generate one with: openssl rand -base64 32`)
    return undefined
  }
  return { id: fingerprint(key, 8), key }
}

function parseCorsOrigins (reader: EnvReader): string[] | '*' {
  const raw = reader.optionalString('CORS_ORIGINS')
  if (raw === undefined) return []
  if (raw.trim() === '*') return '*'
  const origins = splitList(raw)
  for (const origin of origins) {
    let ok = false
    try { ok = new URL(origin).origin === origin } catch { ok = false }
    if (!ok) reader.problem(`CORS_ORIGINS entries must be origins like https://app.example.com (scheme, host, optional port, no path); got "${origin}".`)
  }
  return origins
}
