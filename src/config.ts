/**
 * Configuration: every setting comes from an environment variable, is read once at start and
 * is checked against the one table below (`VARIABLES`). Nothing else in the service reads
 * `process.env`. Problems are collected, not thrown one at a time, so an operator fixes a bad
 * deployment in one round; a secret's value is never repeated in a message.
 *
 * The README's configuration table is checked against `VARIABLES` by a test.
 */
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'

export type Env = Readonly<Record<string, string | undefined>>
export type RunMode = 'production' | 'local'

export const REGIONS = {
  sg: ['https://api.sg-light-api.com', 'https://api-b.sg-light-api.com'],
  us: ['https://api.us-light-api.com', 'https://api-b.us-light-api.com'],
  sau: ['https://api.sau-light-api.com', 'https://api-b.sau-light-api.com']
} as const
export type Region = keyof typeof REGIONS

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
export const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const
export const EC_ALGORITHMS = ['ES256', 'ES384', 'ES512'] as const
export const ASYMMETRIC_ALGORITHMS = [...RSA_ALGORITHMS, ...EC_ALGORITHMS, 'EdDSA'] as const
export type JwtAlgorithm = typeof HMAC_ALGORITHMS[number] | typeof ASYMMETRIC_ALGORITHMS[number]

/** EC curve → the one JWS algorithm that uses it (RFC 7518 §3.4). */
const EC_CURVE_ALGORITHM: Record<string, JwtAlgorithm> = { 'prime256v1': 'ES256', 'secp384r1': 'ES384', 'secp521r1': 'ES512' }

export const MIN_JWT_SECRET_BYTES = 32
export const MIN_ADMIN_KEY_CHARS = 32

export interface HostPort { host: string, port: number }

export interface EncryptionKey {
  /** Short fingerprint stored beside each ciphertext so the right key is picked on read. */
  id: string
  key: Buffer
}

export type JwtKeyConfig =
  | { mode: 'secret', secret: string }
  | { mode: 'public_key', publicKey: KeyObject, keyType: string }
  | { mode: 'jwks', jwksUrl: URL }

export type JwtConfig = JwtKeyConfig & {
  algorithms: JwtAlgorithm[]
  /** Accepted `iss` values; empty = not checked (allowed only in secret and PEM modes). */
  issuers: string[]
  /** Accepted `aud` values; empty = not checked (allowed only in secret and PEM modes). */
  audiences: string[]
  clockToleranceS: number
  userIdClaim: string
  nameClaim: string
  avatarClaim: string
  userIdMode: 'raw' | 'hash'
  /** Tokens longer than this are rejected before any cryptography. */
  maxTokenBytes: number
}

export type RedisConfig =
  | { mode: 'standalone', url: string, keyPrefix: string, password?: string }
  | { mode: 'sentinel', sentinels: HostPort[], name: string, keyPrefix: string, password?: string, tls: boolean }
  | { mode: 'cluster', nodes: HostPort[], keyPrefix: string, password?: string, tls: boolean }

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
  }
  jwt: JwtConfig
  /** `undefined`: in-memory cache only (a single instance). */
  redis: RedisConfig | undefined
  tokens: {
    encryptionKey: EncryptionKey | undefined
    oldEncryptionKeys: EncryptionKey[]
    cacheMaxAgeS: number
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

export interface VariableSpec {
  name: string
  group: 'server' | 'nexconn' | 'jwt' | 'identity' | 'redis' | 'encryption' | 'operations'
  /** The default as documented; `undefined` = unset. */
  default?: string
  /** A secret also accepts `<NAME>_FILE` and is never echoed. */
  secret?: boolean
  description: string
}

/** The public contract: every variable the service reads. Order is the README's order. */
export const VARIABLES: readonly VariableSpec[] = [
  { name: 'PORT', group: 'server', default: '8080', description: 'TCP port of the API.' },
  { name: 'HOST', group: 'server', default: '0.0.0.0', description: 'Address to listen on (0.0.0.0 in a container; 127.0.0.1 for a sidecar reachable only from its pod).' },
  { name: 'LOG_LEVEL', group: 'server', default: 'info', description: 'One of fatal, error, warn, info, debug, trace, silent.' },
  { name: 'TRUST_PROXY', group: 'server', default: 'false', description: '`true`, `false`, a hop count, or a comma-separated list of proxy IPs/CIDRs whose `X-Forwarded-For` is trusted.' },
  { name: 'SHUTDOWN_GRACE_MS', group: 'operations', default: '10000', description: 'How long in-flight requests may take to finish after SIGTERM.' },
  { name: 'SHUTDOWN_DELAY_MS', group: 'operations', default: '0', description: 'After SIGTERM, keep serving (with `/readyz` failing) this long before closing the listener, so load balancers stop sending traffic first. Kubernetes does this with the chart\'s preStop pause instead.' },
  { name: 'MAX_EVENT_LOOP_DELAY_MS', group: 'operations', default: '1000', description: 'Shed load (503 `overloaded`) while the event loop lags more than this; 0 disables.' },
  { name: 'METRICS_PORT', group: 'operations', description: 'Serve `/metrics` on this separate port instead of the API port.' },
  { name: 'DOCS_ENABLED', group: 'operations', default: 'true', description: 'Serve the OpenAPI UI at `/docs`.' },
  { name: 'NEXCONN_APP_KEY', group: 'nexconn', description: 'The App Key from the Nexconn console. Required (except in `npm run dev`).' },
  { name: 'NEXCONN_APP_SECRET', group: 'nexconn', secret: true, description: 'The App Secret from the Nexconn console. Required (except in `npm run dev`).' },
  { name: 'NEXCONN_REGION', group: 'nexconn', default: 'sg', description: 'Data centre of the app: `sg`, `us` or `sau`. Picks the documented primary and backup domains.' },
  { name: 'NEXCONN_API_URLS', group: 'nexconn', description: 'Comma-separated base URLs tried in order; overrides `NEXCONN_REGION`.' },
  { name: 'NEXCONN_ALLOW_HTTP', group: 'nexconn', default: 'false', description: 'Allow `http://` API URLs on non-loopback hosts (loopback is always allowed).' },
  { name: 'NEXCONN_TIMEOUT_MS', group: 'nexconn', default: '3000', description: 'Time allowed for one attempt against one domain.' },
  { name: 'NEXCONN_DEADLINE_MS', group: 'nexconn', default: '8000', description: 'Time allowed for a whole call, failover and quota wait included.' },
  { name: 'NEXCONN_TOKEN_TTL_S', group: 'nexconn', default: '0', description: 'Token lifetime configured in the Nexconn console, in seconds; 0 = tokens never expire (the console default).' },
  { name: 'JWT_SECRET', group: 'jwt', secret: true, description: 'HMAC secret (at least 32 bytes). One of the three key modes.' },
  { name: 'JWT_PUBLIC_KEY', group: 'jwt', secret: true, description: 'PEM public key (RSA, EC, Ed25519) or X.509 certificate. One of the three key modes.' },
  { name: 'JWT_JWKS_URL', group: 'jwt', description: 'HTTPS URL of a JWKS. One of the three key modes; needs `JWT_ISSUER` and `JWT_AUDIENCE`.' },
  { name: 'JWT_ALGORITHMS', group: 'jwt', description: 'Comma-separated allowed algorithms. Defaults: `HS256` (secret), by key type (PEM: `RS256`, the curve\'s `ES*`, `EdDSA`), `RS256` (JWKS).' },
  { name: 'JWT_ISSUER', group: 'jwt', description: 'Accepted `iss` values (comma-separated, exact match).' },
  { name: 'JWT_AUDIENCE', group: 'jwt', description: 'Accepted `aud` values (comma-separated, exact match).' },
  { name: 'JWT_CLOCK_TOLERANCE_S', group: 'jwt', default: '30', description: 'Allowed clock skew for `exp`, `nbf` and `iat`, in seconds (0–300).' },
  { name: 'JWT_USER_ID_CLAIM', group: 'identity', default: 'sub', description: 'Claim holding the user id; a dotted path reaches nested claims.' },
  { name: 'JWT_NAME_CLAIM', group: 'identity', default: 'name', description: 'Claim holding the display name (then `nickname`, `preferred_username`, the user id).' },
  { name: 'JWT_AVATAR_CLAIM', group: 'identity', default: 'picture', description: 'Claim holding the avatar URL (kept only if http(s), at most 1024 bytes).' },
  { name: 'USER_ID_MODE', group: 'identity', default: 'raw', description: '`raw`: the claim is the Nexconn user id. `hash`: the user id is hex SHA-256 of `issuer + "\\n" + claim`.' },
  { name: 'REDIS_URL', group: 'redis', description: '`redis://` or `rediss://` URL. Unset (and no Sentinel or Cluster) = in-memory cache, single instance.' },
  { name: 'REDIS_SENTINELS', group: 'redis', description: 'Comma-separated `host:port` list of Sentinels (needs `REDIS_SENTINEL_NAME`).' },
  { name: 'REDIS_SENTINEL_NAME', group: 'redis', description: 'Name of the Sentinel-monitored master.' },
  { name: 'REDIS_CLUSTER_NODES', group: 'redis', description: 'Comma-separated `host:port` list of Redis Cluster seed nodes.' },
  { name: 'REDIS_PASSWORD', group: 'redis', secret: true, description: 'Redis password for Sentinel or Cluster mode (for `REDIS_URL`, put it in the URL).' },
  { name: 'REDIS_TLS', group: 'redis', default: 'false', description: 'Use TLS to Redis in Sentinel or Cluster mode (`rediss://` does it for `REDIS_URL`).' },
  { name: 'REDIS_KEY_PREFIX', group: 'redis', default: 'ctb:', description: 'Prefix of every Redis key the broker writes.' },
  { name: 'TOKEN_ENCRYPTION_KEY', group: 'encryption', secret: true, description: 'Base64 of 32 random bytes; encrypts tokens in Redis (AES-256-GCM). Required with Redis.' },
  { name: 'TOKEN_ENCRYPTION_KEYS_OLD', group: 'encryption', secret: true, description: 'Comma-separated older keys, still accepted for reading during a rotation.' },
  { name: 'TOKEN_CACHE_MAX_AGE_S', group: 'encryption', default: '604800', description: 'How long a token that never expires is kept in cache (seconds).' },
  { name: 'ADMIN_API_KEY', group: 'operations', secret: true, description: 'Enables `POST /v1/admin/revoke` (at least 32 characters).' },
  { name: 'CORS_ORIGINS', group: 'operations', description: 'Comma-separated allowed browser origins, or `*`. Unset = no CORS headers (native apps need none).' },
  { name: 'RATE_LIMIT_PER_MINUTE', group: 'operations', default: '60', description: 'Token requests per verified user per minute; 0 disables.' },
  { name: 'RATE_LIMIT_AUTH_FAILURES_PER_MINUTE', group: 'operations', default: '30', description: 'Failed authentications per client IP per minute before that IP gets 429; 0 disables.' },
  { name: 'WEBHOOK_ENABLED', group: 'operations', default: 'false', description: 'Accept Nexconn webhooks at `POST /v1/webhooks/nexconn`.' },
  { name: 'WEBHOOK_NONCE_PARAM', group: 'operations', default: 'nonce', description: 'Query parameter carrying the webhook nonce.' },
  { name: 'WEBHOOK_TIMESTAMP_PARAM', group: 'operations', default: 'signTimestamp', description: 'Query parameter carrying the webhook timestamp.' },
  { name: 'WEBHOOK_SIGNATURE_PARAM', group: 'operations', default: 'signature', description: 'Query parameter carrying the webhook signature.' },
  { name: 'WEBHOOK_MAX_AGE_S', group: 'operations', default: '300', description: 'Webhooks with an older timestamp are refused.' }
]

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

export interface LoadOptions {
  runMode?: RunMode
  /** Injected for tests; defaults to reading the file as UTF-8. */
  readFile?: (path: string) => string
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

export function isLoopbackHost (hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname.endsWith('.localhost')
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
    docsEnabled: reader.bool('DOCS_ENABLED')
  }
  if (server.metricsPort !== undefined && server.metricsPort === server.port) {
    reader.problem('METRICS_PORT must differ from PORT.')
  }

  const nexconn = parseNexconn(reader)
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
    tokenTtlS: reader.int('NEXCONN_TOKEN_TTL_S', 0, 10 * 365 * 86_400)
  }
}

function parseJwt (reader: EnvReader): JwtConfig {
  const secret = reader.optionalString('JWT_SECRET')
  const pem = reader.optionalString('JWT_PUBLIC_KEY')
  const jwksRaw = reader.optionalString('JWT_JWKS_URL')
  const set = [secret !== undefined && 'JWT_SECRET', pem !== undefined && 'JWT_PUBLIC_KEY', jwksRaw !== undefined && 'JWT_JWKS_URL'].filter(Boolean)
  const issuers = splitList(reader.optionalString('JWT_ISSUER') ?? '')
  const audiences = splitList(reader.optionalString('JWT_AUDIENCE') ?? '')
  const requested = splitList(reader.optionalString('JWT_ALGORITHMS') ?? '')

  const policy = {
    issuers,
    audiences,
    clockToleranceS: reader.int('JWT_CLOCK_TOLERANCE_S', 0, 300),
    userIdClaim: reader.claimPath('JWT_USER_ID_CLAIM'),
    nameClaim: reader.claimPath('JWT_NAME_CLAIM'),
    avatarClaim: reader.claimPath('JWT_AVATAR_CLAIM'),
    userIdMode: reader.oneOf('USER_ID_MODE', ['raw', 'hash'] as const),
    maxTokenBytes: 8192
  }

  if (set.length !== 1) {
    reader.problem(set.length === 0
      ? 'Set exactly one of JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL: how end-user JWTs are verified.'
      : `Set exactly one of JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL; found ${set.join(' and ')}.`)
    return { mode: 'secret', secret: '', algorithms: ['HS256'], ...policy }
  }

  if (secret !== undefined) {
    if (Buffer.byteLength(secret) < MIN_JWT_SECRET_BYTES) reader.problem(`JWT_SECRET must be at least ${MIN_JWT_SECRET_BYTES} bytes long.`)
    const algorithms = checkAlgorithms(reader, requested, ['HS256'], HMAC_ALGORITHMS, 'an HMAC secret')
    return { mode: 'secret', secret, algorithms, ...policy }
  }

  if (pem !== undefined) {
    const parsed = parsePublicKey(reader, pem)
    if (parsed === undefined) return { mode: 'secret', secret: '', algorithms: ['HS256'], ...policy }
    const { key, keyType, allowed, fallback } = parsed
    const algorithms = checkAlgorithms(reader, requested, [fallback], allowed, `a ${keyType} key`)
    return { mode: 'public_key', publicKey: key, keyType, algorithms, ...policy }
  }

  const jwksUrl = reader.url('JWT_JWKS_URL', jwksRaw ?? '', false)
  if (issuers.length === 0) reader.problem('JWT_ISSUER is required with JWT_JWKS_URL (the `iss` your identity provider puts in tokens).')
  if (audiences.length === 0) reader.problem('JWT_AUDIENCE is required with JWT_JWKS_URL (the `aud` your identity provider puts in tokens).')
  const algorithms = checkAlgorithms(reader, requested, ['RS256'], ASYMMETRIC_ALGORITHMS, 'a JWKS')
  return { mode: 'jwks', jwksUrl: jwksUrl ?? new URL('https://invalid.invalid'), algorithms, ...policy }
}

function checkAlgorithms (reader: EnvReader, requested: string[], fallback: JwtAlgorithm[], allowed: readonly JwtAlgorithm[], what: string): JwtAlgorithm[] {
  if (requested.length === 0) return fallback
  const bad = requested.filter((alg) => !(allowed as readonly string[]).includes(alg))
  if (bad.length > 0) reader.problem(`JWT_ALGORITHMS: ${bad.join(', ')} cannot be used with ${what}; allowed: ${allowed.join(', ')}.`)
  return requested.filter((alg) => (allowed as readonly string[]).includes(alg)) as JwtAlgorithm[]
}

const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1-----$/

function parsePublicKey (reader: EnvReader, raw: string): { key: KeyObject, keyType: string, allowed: readonly JwtAlgorithm[], fallback: JwtAlgorithm } | undefined {
  // Accept escaped newlines: a PEM pasted into a one-line env value.
  const pem = raw.replace(/\\n/g, '\n').trim()
  const match = PEM_BLOCK.exec(pem)
  if (match === null) {
    reader.problem('JWT_PUBLIC_KEY must be exactly one PEM block (BEGIN PUBLIC KEY or BEGIN CERTIFICATE) with nothing around it.')
    return undefined
  }
  const label = match[1]
  let key: KeyObject
  try {
    if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') key = createPublicKey(pem)
    else if (label === 'CERTIFICATE') key = new X509Certificate(pem).publicKey
    else {
      reader.problem(`JWT_PUBLIC_KEY holds a "${label}" block; it must be a public key or certificate (never a private key).`)
      return undefined
    }
  } catch {
    reader.problem('JWT_PUBLIC_KEY could not be parsed as a PEM public key.')
    return undefined
  }
  const keyType = key.asymmetricKeyType ?? 'unknown'
  switch (keyType) {
    case 'rsa':
      return { key, keyType, allowed: RSA_ALGORITHMS, fallback: 'RS256' }
    case 'rsa-pss':
      return { key, keyType, allowed: ['PS256', 'PS384', 'PS512'], fallback: 'PS256' }
    case 'ec': {
      const alg = EC_CURVE_ALGORITHM[key.asymmetricKeyDetails?.namedCurve ?? '']
      if (alg === undefined) {
        reader.problem('JWT_PUBLIC_KEY is an EC key on a curve JWT does not use (P-256, P-384 or P-521 expected).')
        return undefined
      }
      return { key, keyType, allowed: [alg], fallback: alg }
    }
    case 'ed25519':
      return { key, keyType, allowed: ['EdDSA'], fallback: 'EdDSA' }
    default:
      reader.problem(`JWT_PUBLIC_KEY is a ${keyType} key; RSA, EC or Ed25519 expected.`)
      return undefined
  }
}

function parseRedis (reader: EnvReader): RedisConfig | undefined {
  const url = reader.optionalString('REDIS_URL')
  const sentinels = reader.optionalString('REDIS_SENTINELS')
  const clusterNodes = reader.optionalString('REDIS_CLUSTER_NODES')
  const keyPrefix = reader.string('REDIS_KEY_PREFIX')
  const password = reader.optionalString('REDIS_PASSWORD')
  const tls = reader.bool('REDIS_TLS')
  const sentinelName = reader.optionalString('REDIS_SENTINEL_NAME')
  // No braces: the broker sets its own Cluster hash tags; a tag in the prefix would put every key in one slot.
  if (!/^[A-Za-z0-9:_.-]{0,64}$/.test(keyPrefix)) reader.problem('REDIS_KEY_PREFIX may hold letters, digits and : _ . - (at most 64); no braces, the broker sets its own Cluster hash tags.')

  const chosen = [url !== undefined && 'REDIS_URL', sentinels !== undefined && 'REDIS_SENTINELS', clusterNodes !== undefined && 'REDIS_CLUSTER_NODES'].filter(Boolean)
  if (chosen.length > 1) {
    reader.problem(`Set at most one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES; found ${chosen.join(' and ')}.`)
    return undefined
  }
  if (url !== undefined) {
    let parsed: URL | undefined
    try { parsed = new URL(url) } catch { /* reported below */ }
    // The URL may carry a password: never echo it.
    if (parsed === undefined || !['redis:', 'rediss:'].includes(parsed.protocol) || parsed.hostname === '') {
      reader.problem('REDIS_URL must be a redis:// or rediss:// URL with a host.')
      return undefined
    }
    return { mode: 'standalone', url, keyPrefix, ...(password === undefined ? {} : { password }) }
  }
  if (sentinels !== undefined) {
    if (sentinelName === undefined) reader.problem('REDIS_SENTINEL_NAME is required with REDIS_SENTINELS.')
    return { mode: 'sentinel', sentinels: reader.hostPorts('REDIS_SENTINELS', sentinels), name: sentinelName ?? '', keyPrefix, tls, ...(password === undefined ? {} : { password }) }
  }
  if (clusterNodes !== undefined) {
    return { mode: 'cluster', nodes: reader.hostPorts('REDIS_CLUSTER_NODES', clusterNodes), keyPrefix, tls, ...(password === undefined ? {} : { password }) }
  }
  return undefined
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
  return { encryptionKey, oldEncryptionKeys, cacheMaxAgeS: reader.int('TOKEN_CACHE_MAX_AGE_S', 60, 365 * 86_400) }
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

export function splitList (raw: string): string[] {
  return raw.split(',').map((part) => part.trim()).filter((part) => part !== '')
}

/**
 * Reads variables from one env object, applies the documented defaults, resolves `<NAME>_FILE`
 * for secrets and collects problems. Knows each variable's spec, so a message about a secret
 * never includes its value.
 */
class EnvReader {
  readonly #env: Env
  readonly #readFile: (path: string) => string
  readonly #problems: string[] = []
  readonly #specs = new Map(VARIABLES.map((spec) => [spec.name, spec]))

  constructor (env: Env, readFile: (path: string) => string) {
    this.#env = env
    this.#readFile = readFile
    this.#checkFileVariants()
  }

  problem (message: string): void {
    this.#problems.push(message)
  }

  finish (): void {
    if (this.#problems.length > 0) throw new ConfigError(this.#problems)
  }

  /** Raw value with `_FILE` resolution; `undefined` when unset or empty. */
  #raw (name: string): string | undefined {
    const spec = this.#specs.get(name)
    if (spec === undefined) throw new Error(`BUG: ${name} is not in VARIABLES`)
    const direct = this.#env[name]
    const file = spec.secret === true ? this.#env[`${name}_FILE`] : undefined
    if (direct !== undefined && direct !== '' && file !== undefined && file !== '') {
      this.problem(`Set ${name} or ${name}_FILE, not both.`)
      return undefined
    }
    if (file !== undefined && file !== '') {
      try {
        // Files written by editors and secret stores often end with a newline.
        const content = this.#readFile(file).replace(/\r?\n$/, '')
        if (content === '') this.problem(`${name}_FILE points to an empty file: ${file}.`)
        return content === '' ? undefined : content
      } catch (err) {
        this.problem(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`)
        return undefined
      }
    }
    if (direct === undefined || direct === '') return spec.default
    return direct
  }

  #checkFileVariants (): void {
    for (const name of Object.keys(this.#env)) {
      if (!name.endsWith('_FILE')) continue
      const base = name.slice(0, -'_FILE'.length)
      const spec = this.#specs.get(base)
      if (spec !== undefined && spec.secret !== true) this.problem(`${name} is not supported: only secrets accept _FILE; set ${base} directly.`)
    }
  }

  optionalString (name: string): string | undefined {
    return this.#raw(name)
  }

  string (name: string): string {
    return this.#raw(name) ?? ''
  }

  #shown (name: string, value: string): string {
    return this.#specs.get(name)?.secret === true ? 'the value given' : `"${value}"`
  }

  optionalInt (name: string, min: number, max: number): number | undefined {
    const raw = this.#raw(name)
    if (raw === undefined) return undefined
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      this.problem(`${name} must be a whole number from ${min} to ${max}; got ${this.#shown(name, raw)}.`)
      return undefined
    }
    return Number(raw)
  }

  int (name: string, min: number, max: number): number {
    return this.optionalInt(name, min, max) ?? Number(this.#specs.get(name)?.default ?? min)
  }

  bool (name: string): boolean {
    const raw = (this.#raw(name) ?? 'false').toLowerCase()
    if (['true', '1', 'yes'].includes(raw)) return true
    if (['false', '0', 'no'].includes(raw)) return false
    this.problem(`${name} must be true or false; got "${raw}".`)
    return false
  }

  oneOf<T extends string> (name: string, allowed: readonly T[]): T {
    const raw = this.#raw(name) ?? ''
    if ((allowed as readonly string[]).includes(raw)) return raw as T
    this.problem(`${name} must be one of ${allowed.join(', ')}; got "${raw}".`)
    return allowed[0] as T
  }

  claimPath (name: string): string {
    const raw = this.string(name)
    if (!/^[A-Za-z0-9_:$-]+(\.[A-Za-z0-9_:$-]+)*$/.test(raw) || raw.split('.').some((part) => ['__proto__', 'prototype', 'constructor'].includes(part))) {
      this.problem(`${name} must be a claim name or a dotted path such as "user.id"; got "${raw}".`)
    }
    return raw
  }

  queryName (name: string): string {
    const raw = this.string(name)
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) this.problem(`${name} must be a query parameter name; got "${raw}".`)
    return raw
  }

  url (name: string, raw: string, allowHttp: boolean): URL | undefined {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      this.problem(`${name}: "${raw}" is not a URL.`)
      return undefined
    }
    if (url.username !== '' || url.password !== '') {
      this.problem(`${name} must not carry credentials in the URL.`)
      return undefined
    }
    if (url.protocol === 'https:') return url
    if (url.protocol === 'http:' && (allowHttp || isLoopbackHost(url.hostname))) return url
    this.problem(url.protocol === 'http:'
      ? `${name}: ${url.origin} uses http://, allowed only for loopback hosts${name.startsWith('NEXCONN') ? ' or with NEXCONN_ALLOW_HTTP=true' : ''}.`
      : `${name}: ${url.origin} must use https://.`)
    return undefined
  }

  hostPorts (name: string, raw: string): HostPort[] {
    const result: HostPort[] = []
    for (const entry of splitList(raw)) {
      const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry)
      const port = Number(match?.[2])
      if (match === null || port < 1 || port > 65535) {
        this.problem(`${name} entries must be host:port; got "${entry}".`)
        continue
      }
      result.push({ host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port })
    }
    if (splitList(raw).length === 0) this.problem(`${name} must list at least one host:port.`)
    return result
  }
}
