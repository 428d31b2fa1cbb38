import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import { ConfigError, loadConfig, VARIABLES, type Env } from '../src/config.ts'
import { withTable } from '../scripts/config-table.ts'
import { baseEnv, TEST_ENCRYPTION_KEY } from './helpers/env.ts'

function problems (env: Env, options: Parameters<typeof loadConfig>[1] = {}): string[] {
  try {
    loadConfig(env, options)
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

function onlyProblem (t: Test, env: Env, pattern: RegExp): void {
  const found = problems(env)
  t.equal(found.length, 1, `one problem, got: ${JSON.stringify(found)}`)
  t.match(found[0] ?? '', pattern)
}

t.test('defaults', async (t) => {
  const config = loadConfig(baseEnv())
  t.equal(config.server.port, 8080)
  t.equal(config.server.host, '0.0.0.0')
  t.equal(config.server.logLevel, 'silent')
  t.equal(config.server.trustProxy, false)
  t.equal(config.server.shutdownGraceMs, 10_000)
  t.equal(config.nexconn.region, 'sg')
  t.same(config.nexconn.apiUrls, ['https://api.sg-light-api.com', 'https://api-b.sg-light-api.com'])
  t.equal(config.nexconn.timeoutMs, 3000)
  t.equal(config.nexconn.deadlineMs, 8000)
  t.equal(config.nexconn.tokenTtlS, 0)
  t.equal(config.jwt.providers[0]?.key.mode, 'secret')
  t.same(config.jwt.providers[0]?.algorithms, ['HS256'])
  t.equal(config.jwt.clockToleranceS, 30)
  t.equal(config.jwt.providers[0]?.userIdClaim, 'sub')
  t.equal(config.jwt.providers[0]?.nameClaim, 'name')
  t.equal(config.jwt.providers[0]?.avatarClaim, 'picture')
  t.equal(config.jwt.providers[0]?.userIdMode, 'raw')
  t.equal(config.redis, undefined)
  t.equal(config.tokens.cacheMaxAgeS, 604_800)
  t.equal(config.adminApiKey, undefined)
  t.same(config.ops.corsOrigins, [])
  t.equal(config.ops.rateLimitPerMinute, 60)
  t.equal(config.ops.webhook.enabled, false)
})

t.test('every documented default parses to itself', async (t) => {
  const env = baseEnv()
  for (const spec of VARIABLES) if (spec.default !== undefined) env[spec.name] = spec.default
  t.doesNotThrow(() => loadConfig(env))
})

t.test('regions pick their documented domains; NEXCONN_API_URLS overrides', async (t) => {
  t.same(loadConfig(baseEnv({ NEXCONN_REGION: 'us' })).nexconn.apiUrls, ['https://api.us-light-api.com', 'https://api-b.us-light-api.com'])
  t.same(loadConfig(baseEnv({ NEXCONN_REGION: 'sau' })).nexconn.apiUrls, ['https://api.sau-light-api.com', 'https://api-b.sau-light-api.com'])
  onlyProblem(t, baseEnv({ NEXCONN_REGION: 'eu' }), /NEXCONN_REGION must be one of sg, us, sau/)
  t.same(loadConfig(baseEnv({ NEXCONN_API_URLS: 'https://a.example.com/, https://b.example.com' })).nexconn.apiUrls, ['https://a.example.com', 'https://b.example.com'])
})

t.test('http is refused except for loopback or with NEXCONN_ALLOW_HTTP', async (t) => {
  onlyProblem(t, baseEnv({ NEXCONN_API_URLS: 'http://api.example.com' }), /NEXCONN_API_URLS: http:\/\/api\.example\.com uses http:\/\/, allowed only for loopback/)
  t.same(loadConfig(baseEnv({ NEXCONN_API_URLS: 'http://127.0.0.1:8090,http://localhost:8091,http://[::1]:8092' })).nexconn.apiUrls.length, 3)
  t.same(loadConfig(baseEnv({ NEXCONN_API_URLS: 'http://emulator:8090', NEXCONN_ALLOW_HTTP: 'true' })).nexconn.apiUrls, ['http://emulator:8090'])
  onlyProblem(t, baseEnv({ NEXCONN_API_URLS: 'ftp://x.example.com' }), /must use https/)
  onlyProblem(t, baseEnv({ NEXCONN_API_URLS: 'not a url' }), /is not a URL/)
  onlyProblem(t, baseEnv({ NEXCONN_API_URLS: 'https://a.example.com?x=1' }), /must not carry a query/)
  onlyProblem(t, baseEnv({ NEXCONN_API_URLS: ',' }), /at least one URL/)
})

t.test('numbers are range-checked', async (t) => {
  onlyProblem(t, baseEnv({ PORT: '70000' }), /PORT must be a whole number from 0 to 65535; got "70000"/)
  onlyProblem(t, baseEnv({ PORT: 'abc' }), /PORT must be a whole number/)
  onlyProblem(t, baseEnv({ NEXCONN_TIMEOUT_MS: '50' }), /NEXCONN_TIMEOUT_MS/)
  onlyProblem(t, baseEnv({ NEXCONN_TIMEOUT_MS: '5000', NEXCONN_DEADLINE_MS: '4000' }), /NEXCONN_DEADLINE_MS must be at least NEXCONN_TIMEOUT_MS/)
  onlyProblem(t, baseEnv({ NEXCONN_TOKEN_TTL_S: '-1' }), /NEXCONN_TOKEN_TTL_S/)
  onlyProblem(t, baseEnv({ JWT_CLOCK_TOLERANCE_S: '301' }), /JWT_CLOCK_TOLERANCE_S must be a whole number from 0 to 300/)
  onlyProblem(t, baseEnv({ TOKEN_CACHE_MAX_AGE_S: '10' }), /TOKEN_CACHE_MAX_AGE_S/)
  onlyProblem(t, baseEnv({ RATE_LIMIT_PER_MINUTE: '1.5' }), /RATE_LIMIT_PER_MINUTE/)
  onlyProblem(t, baseEnv({ SHUTDOWN_GRACE_MS: 'soon' }), /SHUTDOWN_GRACE_MS/)
  onlyProblem(t, baseEnv({ METRICS_PORT: '8080' }), /METRICS_PORT must differ from PORT/)
  t.equal(loadConfig(baseEnv({ NEXCONN_TOKEN_TTL_S: '86400' })).nexconn.tokenTtlS, 86_400)
})

t.test('enums and booleans', async (t) => {
  onlyProblem(t, baseEnv({ LOG_LEVEL: 'verbose' }), /LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/)
  onlyProblem(t, baseEnv({ USER_ID_MODE: 'md5' }), /USER_ID_MODE must be one of raw, hash/)
  onlyProblem(t, baseEnv({ WEBHOOK_ENABLED: 'maybe' }), /WEBHOOK_ENABLED must be true or false/)
  t.equal(loadConfig(baseEnv({ WEBHOOK_ENABLED: 'TRUE' })).ops.webhook.enabled, true)
  onlyProblem(t, baseEnv({ WEBHOOK_SIGNATURE_PARAM: 'a b' }), /WEBHOOK_SIGNATURE_PARAM must be a query parameter name/)
})

t.test('TRUST_PROXY accepts booleans, hop counts and address lists', async (t) => {
  t.equal(loadConfig(baseEnv({ TRUST_PROXY: 'true' })).server.trustProxy, true)
  t.equal(loadConfig(baseEnv({ TRUST_PROXY: '2' })).server.trustProxy, 2)
  t.same(loadConfig(baseEnv({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' })).server.trustProxy, ['10.0.0.0/8', '127.0.0.1'])
  onlyProblem(t, baseEnv({ TRUST_PROXY: 'everyone' }), /TRUST_PROXY/)
})

t.test('claim names as identity providers write them; prototype keys and control characters refused', async (t) => {
  for (const name of ['user.id', 'https://myapp.example.com/uid', 'cognito:username', 'app_metadata.chat_id']) {
    t.equal(loadConfig(baseEnv({ JWT_USER_ID_CLAIM: name })).jwt.providers[0]?.userIdClaim, name)
  }
  onlyProblem(t, baseEnv({ JWT_USER_ID_CLAIM: '__proto__.x' }), /JWT_USER_ID_CLAIM must not name __proto__/)
  onlyProblem(t, baseEnv({ JWT_NAME_CLAIM: 'a\u0007b' }), /JWT_NAME_CLAIM must be a claim name of 1 to 256 printable characters/)
  onlyProblem(t, baseEnv({ JWT_AVATAR_CLAIM: 'x'.repeat(257) }), /JWT_AVATAR_CLAIM/)
})

t.test('production requires the Nexconn credentials; local mode does not', async (t) => {
  const found = problems(baseEnv({ NEXCONN_APP_KEY: undefined, NEXCONN_APP_SECRET: undefined }))
  t.equal(found.length, 2)
  t.match(found.join('\n'), /NEXCONN_APP_KEY is required/)
  t.match(found.join('\n'), /NEXCONN_APP_SECRET \(or NEXCONN_APP_SECRET_FILE\) is required/)
  t.same(problems(baseEnv({ NEXCONN_APP_KEY: undefined, NEXCONN_APP_SECRET: undefined }), { runMode: 'local' }), [])
  onlyProblem(t, baseEnv({ NEXCONN_APP_KEY: 'bad key!' }), /NEXCONN_APP_KEY must be letters/)
})

t.test('exactly one JWT key mode', async (t) => {
  onlyProblem(t, baseEnv({ JWT_SECRET: undefined }), /Set exactly one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL or JWT_OIDC_ISSUER \(or JWT_ISSUERS_FILE\)/)
  onlyProblem(t, baseEnv({ JWT_JWKS_URL: 'https://idp.example.com/jwks' }), /found JWT_SECRET and JWT_JWKS_URL/)
})

t.test('OIDC discovery and Cognito-style client ids by variables', async (t) => {
  const oidc = (extra: Record<string, string | undefined>): Env => baseEnv({ JWT_SECRET: undefined, JWT_OIDC_ISSUER: 'https://tenant.auth0.com/', JWT_AUDIENCE: 'chat', ...extra })
  const provider = loadConfig(oidc({})).jwt.providers[0]
  t.equal(provider?.key.mode, 'discovery')
  t.same(provider?.issuers, ['https://tenant.auth0.com/'], 'the issuer exactly as written, trailing slash kept')
  t.same(provider?.algorithms, ['RS256'])
  onlyProblem(t, oidc({ JWT_ISSUER: 'https://other.example.com/' }), /JWT_ISSUER must be unset, or equal JWT_OIDC_ISSUER/)
  onlyProblem(t, oidc({ JWT_AUDIENCE: undefined }), /JWT_AUDIENCE \(or JWT_CLIENT_IDS\) is required with JWT_OIDC_ISSUER/)
  onlyProblem(t, oidc({ JWT_OIDC_ISSUER: 'http://idp.example.com' }), /uses http:\/\/, allowed only for loopback hosts/)
  t.equal(loadConfig(oidc({ JWT_OIDC_ISSUER: 'http://127.0.0.1:9000/realms/x' })).jwt.providers[0]?.key.mode, 'discovery', 'loopback http for tests')

  const cognito = loadConfig(oidc({ JWT_OIDC_ISSUER: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc', JWT_AUDIENCE: undefined, JWT_CLIENT_IDS: 'client1, client2', JWT_TOKEN_USE: 'access,id' })).jwt.providers[0]
  t.same(cognito?.clientIds, ['client1', 'client2'], 'client ids replace the audience')
  t.same(cognito?.tokenUse, ['access', 'id'])
  onlyProblem(t, oidc({ JWT_TOKEN_USE: 'refresh' }), /JWT_TOKEN_USE accepts access, id or both; got "refresh"/)
})

t.test('PEM RSA keys under 2048 bits are refused at start', async (t) => {
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  onlyProblem(t, baseEnv({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: weak }), /JWT_PUBLIC_KEY is a 1024-bit RSA key; at least 2048 bits are required/)
})

t.test('JWT_ISSUERS_FILE: several issuers in JSON or YAML, each checked with a clear problem', async (t) => {
  const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const files: Record<string, string> = {
    '/etc/issuers.yaml': [
      'issuers:',
      '  - issuer: https://tenant.auth0.com/',
      '    discovery: true',
      '    audiences: [https://chat.example.com]',
      '    userIdClaim: https://myapp.example.com/uid',
      '  - issuer: https://securetoken.google.com/proj',
      '    jwksUrl: https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
      '    audiences: proj',
      '    userIdPrefix: fb',
      '  - issuer: app-server',
      '    secretFile: /run/secrets/jwt',
      '    algorithms: [HS256, HS512]',
      '    userIdMode: hash',
      '  - issuer: partner',
      '    publicKey: |',
      ...rsaPem.trim().split('\n').map((line) => `      ${line}`)
    ].join('\n'),
    '/etc/issuers.json': JSON.stringify([{ issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/p', discovery: true, clientIds: ['c1'], tokenUse: ['access'] }]),
    '/run/secrets/jwt': `${'s'.repeat(40)}\n`
  }
  const readFile = (path: string): string => {
    const content = files[path]
    if (content === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' })
    return content
  }
  const fileEnv = (path: string, extra: Record<string, string | undefined> = {}): Env => baseEnv({ JWT_SECRET: undefined, JWT_ISSUERS_FILE: path, USER_ID_MODE: 'raw', ...extra })
  const providers = loadConfig(fileEnv('/etc/issuers.yaml'), { readFile }).jwt.providers
  t.same(providers.map((p) => p.key.mode), ['discovery', 'jwks', 'secret', 'public_key'])
  t.same(providers.map((p) => p.issuers), [['https://tenant.auth0.com/'], ['https://securetoken.google.com/proj'], ['app-server'], ['partner']])
  t.same(providers.map((p) => p.label), ['https://tenant.auth0.com/', 'https://securetoken.google.com/proj', 'app-server', 'partner'])
  t.equal(providers[0]?.userIdClaim, 'https://myapp.example.com/uid')
  t.equal(providers[1]?.userIdClaim, 'sub', 'unset claims come from JWT_USER_ID_CLAIM')
  t.same(providers[1]?.audiences, ['proj'], 'a single string is a one-item list')
  t.equal(providers[1]?.userIdPrefix, 'fb')
  t.same(providers[2]?.algorithms, ['HS256', 'HS512'])
  t.equal(providers[2]?.key.mode === 'secret' && providers[2].key.secret, 's'.repeat(40), 'the secret read from secretFile')
  t.equal(providers[2]?.userIdMode, 'hash')
  t.same(providers[3]?.algorithms, ['RS256'])
  const json = loadConfig(fileEnv('/etc/issuers.json'), { readFile }).jwt.providers[0]
  t.same(json?.clientIds, ['c1'])
  t.same(json?.tokenUse, ['access'])

  const bad = (entries: unknown[], extra: Record<string, string | undefined> = {}): string[] => {
    files['/etc/bad.json'] = JSON.stringify(entries)
    return problems(fileEnv('/etc/bad.json', extra), { readFile })
  }
  t.match(bad([{ issuer: 'a', discovery: true, audiences: ['x'] }]), [/entry 1 \(a\): issuer: "a" is not a URL/], 'discovery needs the issuer to be a URL')
  t.match(bad([{ issuer: 'https://a.example.com', discovery: true }]), [/entry 1 \(https:\/\/a\.example\.com\): "audiences" \(or "clientIds"\) is required with a JWKS or discovery/])
  t.match(bad([{ issuer: 'https://a.example.com', discovery: true, audiences: ['x'], jwksUrl: 'https://a.example.com/jwks' }]), [/entry 1 \(https:\/\/a\.example\.com\): set exactly one of .*found jwksUrl and discovery/])
  t.match(bad([{ issuer: 'x', secret: 's'.repeat(40), audience: ['y'] }]), [/entry 1 \(x\): unknown field "audience" \(did you mean "audiences"\?\)/])
  t.match(bad([{ issuer: 'x', secret: 'short' }]), [/entry 1 \(x\): secret must be at least 32 bytes/])
  t.match(bad([{ issuer: 'x', secret: 's'.repeat(40), userIdPrefix: 'fb:' }]), [/userIdPrefix" must be up to 16 letters and digits/])
  t.match(bad([{ issuer: 'x', secretFile: '/run/secrets/none' }]), [/entry 1 \(x\): secretFile: cannot read \/run\/secrets\/none \(ENOENT\)/])
  t.match(bad([{ issuer: 'x', secret: 's'.repeat(40) }, { issuer: 'x', secret: 't'.repeat(40) }]), [/entry 2: issuer x is listed twice/])
  t.match(bad([{ secret: 's'.repeat(40) }]), [/entry 1: "issuer" must be the exact iss/])
  t.match(bad([{ issuer: 'x', secret: 's'.repeat(40), algorithms: ['RS256'] }]), [/entry 1 \(x\): algorithms: RS256 cannot be used with an HMAC secret/])
  t.match(bad([{ issuer: 'x', secret: 's'.repeat(40) }], { JWT_AUDIENCE: 'y' }), [/JWT_ISSUERS_FILE replaces JWT_AUDIENCE: set them in the file, per issuer/])
  t.match(bad([]), [/must hold a non-empty list of issuers/])
  t.match(problems(fileEnv('/etc/none.yaml'), { readFile }), [/JWT_ISSUERS_FILE: cannot read \/etc\/none\.yaml \(ENOENT\)/])
  files['/etc/garbage'] = 'issuers: [ {'
  t.match(problems(fileEnv('/etc/garbage'), { readFile }), [/is neither JSON nor YAML/])
  const leaked = bad([{ issuer: 'x', secret: 'TopSecretValue-but-too-short' }]).join('\n')
  t.notMatch(leaked, /TopSecretValue/, 'a secret from the file is never echoed')
})

t.test('HMAC secret mode', async (t) => {
  onlyProblem(t, baseEnv({ JWT_SECRET: 'short' }), /JWT_SECRET must be at least 32 bytes/)
  t.same(loadConfig(baseEnv({ JWT_ALGORITHMS: 'HS256,HS512' })).jwt.providers[0]?.algorithms, ['HS256', 'HS512'])
  onlyProblem(t, baseEnv({ JWT_ALGORITHMS: 'RS256' }), /RS256 cannot be used with an HMAC secret/)
  onlyProblem(t, baseEnv({ JWT_ALGORITHMS: 'none' }), /none cannot be used/)
})

t.test('PEM public key mode', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const pemEnv = (pem: string, extra: Record<string, string> = {}): Env => baseEnv({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: pem, ...extra })

  const rsaConfig = loadConfig(pemEnv(rsaPem))
  t.equal(rsaConfig.jwt.providers[0]?.key.mode, 'public_key')
  t.same(rsaConfig.jwt.providers[0]?.algorithms, ['RS256'])
  t.same(loadConfig(pemEnv(rsaPem, { JWT_ALGORITHMS: 'PS256,RS512' })).jwt.providers[0]?.algorithms, ['PS256', 'RS512'])
  onlyProblem(t, pemEnv(rsaPem, { JWT_ALGORITHMS: 'HS256' }), /HS256 cannot be used with a rsa key/)
  t.equal(loadConfig(pemEnv(rsaPem.trim().replace(/\n/g, '\\n'))).jwt.providers[0]?.key.mode, 'public_key', 'escaped newlines in a one-line value')
  const pkcs1 = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()
  t.equal(loadConfig(pemEnv(pkcs1)).jwt.providers[0]?.key.mode, 'public_key', 'BEGIN RSA PUBLIC KEY')

  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  t.same(loadConfig(pemEnv(ec)).jwt.providers[0]?.algorithms, ['ES384'])
  onlyProblem(t, pemEnv(ec, { JWT_ALGORITHMS: 'ES256' }), /ES256 cannot be used with a ec key/)
  const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()
  t.same(loadConfig(pemEnv(ed)).jwt.providers[0]?.algorithms, ['EdDSA'])

  const privatePem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const found = problems(pemEnv(privatePem))
  t.match(found.join('\n'), /holds a "PRIVATE KEY" block; it must be a public key or certificate/)
  t.notMatch(found.join('\n'), /MII/, 'no key material echoed')
  onlyProblem(t, pemEnv(`comment\n${rsaPem}`), /exactly one PEM block/)
  onlyProblem(t, pemEnv(`${rsaPem}\n${rsaPem}`), /exactly one PEM block/)
  onlyProblem(t, pemEnv('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'), /could not be parsed/)
  const x448 = generateKeyPairSync('x448').publicKey.export({ type: 'spki', format: 'pem' }).toString()
  onlyProblem(t, pemEnv(x448), /is a x448 key; RSA, EC or Ed25519 expected/)
})

t.test('JWKS mode', async (t) => {
  const jwks = (extra: Record<string, string | undefined>): Env => baseEnv({ JWT_SECRET: undefined, JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', JWT_ISSUER: 'https://idp.example.com/', JWT_AUDIENCE: 'chat', ...extra })
  const config = loadConfig(jwks({}))
  t.equal(config.jwt.providers[0]?.key.mode, 'jwks')
  t.same(config.jwt.providers[0]?.algorithms, ['RS256'])
  t.same(config.jwt.providers[0]?.issuers, ['https://idp.example.com/'])
  t.same(loadConfig(jwks({ JWT_AUDIENCE: 'a, b' })).jwt.providers[0]?.audiences, ['a', 'b'])
  onlyProblem(t, jwks({ JWT_ISSUER: undefined }), /JWT_ISSUER is required with JWT_JWKS_URL/)
  onlyProblem(t, jwks({ JWT_AUDIENCE: undefined }), /JWT_AUDIENCE \(or JWT_CLIENT_IDS\) is required with JWT_JWKS_URL/)
  onlyProblem(t, jwks({ JWT_JWKS_URL: 'http://idp.example.com/jwks' }), /JWT_JWKS_URL: http:\/\/idp\.example\.com uses http:\/\/, allowed only for loopback hosts\./)
  t.equal(loadConfig(jwks({ JWT_JWKS_URL: 'http://127.0.0.1:9999/jwks' })).jwt.providers[0]?.key.mode, 'jwks')
  onlyProblem(t, jwks({ JWT_ALGORITHMS: 'HS256' }), /HS256 cannot be used with a JWKS/)
  onlyProblem(t, jwks({ JWT_JWKS_URL: 'https://user:pw@idp.example.com/jwks' }), /must not carry credentials/)
})

t.test('Redis modes and the encryption key', async (t) => {
  const key = { TOKEN_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY }
  const standalone = loadConfig(baseEnv({ REDIS_URL: 'rediss://:pw@redis.example.com:6380/0', ...key }))
  t.same(standalone.redis, { mode: 'standalone', url: 'rediss://:pw@redis.example.com:6380/0', keyPrefix: 'ctb:', tls: {} })
  const sentinel = loadConfig(baseEnv({ REDIS_SENTINELS: 's1:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'mymaster', ...key }))
  t.same(sentinel.redis, { mode: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }], name: 'mymaster', keyPrefix: 'ctb:' })
  const cluster = loadConfig(baseEnv({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true', ...key }))
  t.same(cluster.redis, { mode: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }], keyPrefix: 'ctb:', password: 'pw', tls: {} })

  onlyProblem(t, baseEnv({ REDIS_SENTINELS: 's1:26379', ...key }), /REDIS_SENTINEL_NAME is required/)
  onlyProblem(t, baseEnv({ REDIS_CLUSTER_NODES: 'n1', ...key }), /REDIS_CLUSTER_NODES entries must be host:port/)
  onlyProblem(t, baseEnv({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'n1:7000', ...key }), /at most one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES/)
  const badUrl = problems(baseEnv({ REDIS_URL: 'http://user:hunter2@x', ...key }))
  t.match(badUrl.join(), /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/)
  t.notMatch(badUrl.join(), /hunter2/, 'the password in a bad URL is not echoed')
  onlyProblem(t, baseEnv({ REDIS_URL: 'redis://localhost:6379' }), /TOKEN_ENCRYPTION_KEY is required with Redis .* openssl rand -base64 32/)
  onlyProblem(t, baseEnv({ TOKEN_ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') }), /TOKEN_ENCRYPTION_KEY must be the base64 encoding of exactly 32 bytes/)
  onlyProblem(t, baseEnv({ REDIS_KEY_PREFIX: 'bad prefix' }), /REDIS_KEY_PREFIX/)
  onlyProblem(t, baseEnv({ REDIS_KEY_PREFIX: '{ctb}:' }), /no braces/)
})

t.test('managed Redis: ACL user, password file, CA and client certificate in every mode', async (t) => {
  const files: Record<string, string> = { '/run/redis/password': 'hunter2-acl\n', '/run/redis/ca.pem': 'CA PEM', '/run/redis/client.pem': 'CERT PEM', '/run/redis/client.key': 'KEY PEM' }
  const readFile = (path: string): string => {
    const content = files[path]
    if (content === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' })
    return content
  }
  const managed = {
    TOKEN_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    REDIS_USERNAME: 'broker',
    REDIS_PASSWORD_FILE: '/run/redis/password',
    REDIS_TLS_CA_FILE: '/run/redis/ca.pem',
    REDIS_TLS_CERT_FILE: '/run/redis/client.pem',
    REDIS_TLS_KEY_FILE: '/run/redis/client.key'
  }
  const expected = { keyPrefix: 'ctb:', username: 'broker', password: 'hunter2-acl', tls: { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM' } }
  t.same(loadConfig(baseEnv({ REDIS_URL: 'redis://redis.example.com:6379', ...managed }), { readFile }).redis, { mode: 'standalone', url: 'redis://redis.example.com:6379', ...expected }, 'a CA file implies TLS even with redis://')
  t.same(loadConfig(baseEnv({ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'mymaster', ...managed }), { readFile }).redis, { mode: 'sentinel', sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster', ...expected })
  t.same(loadConfig(baseEnv({ REDIS_CLUSTER_NODES: 'n1:7000', ...managed }), { readFile }).redis, { mode: 'cluster', nodes: [{ host: 'n1', port: 7000 }], ...expected })

  const key = { TOKEN_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, REDIS_URL: 'redis://r:6379' }
  t.match(problems(baseEnv({ ...key, REDIS_TLS_CERT_FILE: '/run/redis/client.pem' }), { readFile }).join(), /REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together/)
  t.match(problems(baseEnv({ ...key, REDIS_USERNAME: 'broker' }), { readFile }).join(), /REDIS_USERNAME needs REDIS_PASSWORD/)
  const missing = problems(baseEnv({ ...key, REDIS_TLS_CA_FILE: '/nowhere/ca.pem' }), { readFile })
  t.match(missing.join(), /REDIS_TLS_CA_FILE: cannot read \/nowhere\/ca.pem \(ENOENT\)/)
  t.notMatch(JSON.stringify(problems(baseEnv({ ...key, REDIS_USERNAME: 'broker', REDIS_PASSWORD_FILE: '/run/redis/password', REDIS_TLS_KEY_FILE: '/run/redis/client.key' }), { readFile })), /hunter2|KEY PEM/, 'no secret in a problem')
})

t.test('encryption keys get stable ids; old keys are parsed', async (t) => {
  const other = randomBytes(32).toString('base64')
  const config = loadConfig(baseEnv({ TOKEN_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, TOKEN_ENCRYPTION_KEYS_OLD: other }))
  t.equal(config.tokens.encryptionKey?.key.length, 32)
  t.equal(config.tokens.oldEncryptionKeys.length, 1)
  t.not(config.tokens.encryptionKey?.id, config.tokens.oldEncryptionKeys[0]?.id)
  t.equal(config.tokens.encryptionKey?.id, loadConfig(baseEnv({ TOKEN_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY })).tokens.encryptionKey?.id)
  onlyProblem(t, baseEnv({ TOKEN_ENCRYPTION_KEYS_OLD: `${other},nope` }), /TOKEN_ENCRYPTION_KEYS_OLD \(entry 2\)/)
})

t.test('admin key and CORS origins', async (t) => {
  onlyProblem(t, baseEnv({ ADMIN_API_KEY: 'short' }), /ADMIN_API_KEY must be at least 32 characters/)
  t.equal(loadConfig(baseEnv({ ADMIN_API_KEY: 'a'.repeat(32) })).adminApiKey, 'a'.repeat(32))
  t.equal(loadConfig(baseEnv({ CORS_ORIGINS: '*' })).ops.corsOrigins, '*')
  t.same(loadConfig(baseEnv({ CORS_ORIGINS: 'https://app.example.com, http://localhost:3000' })).ops.corsOrigins, ['https://app.example.com', 'http://localhost:3000'])
  onlyProblem(t, baseEnv({ CORS_ORIGINS: 'https://app.example.com/path' }), /CORS_ORIGINS entries must be origins/)
})

t.test('secrets accept _FILE, trimmed of a final newline', async (t) => {
  const files: Record<string, string> = { '/run/secrets/app': 'from-file-secret\n', '/run/secrets/jwt': 'j'.repeat(40) + '\n', '/run/secrets/empty': '' }
  const readFile = (path: string): string => {
    const content = files[path]
    if (content === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' })
    return content
  }
  const config = loadConfig(baseEnv({ NEXCONN_APP_SECRET: undefined, NEXCONN_APP_SECRET_FILE: '/run/secrets/app', JWT_SECRET: undefined, JWT_SECRET_FILE: '/run/secrets/jwt' }), { readFile })
  t.equal(config.nexconn.appSecret, 'from-file-secret')
  t.equal(config.jwt.providers[0]?.key.mode === 'secret' && config.jwt.providers[0].key.secret, 'j'.repeat(40))

  const missing = problems(baseEnv({ NEXCONN_APP_SECRET: undefined, NEXCONN_APP_SECRET_FILE: '/run/secrets/none' }), { readFile })
  t.match(missing.join('\n'), /NEXCONN_APP_SECRET_FILE: cannot read \/run\/secrets\/none \(ENOENT\)/)
  t.match(problems(baseEnv({ NEXCONN_APP_SECRET_FILE: '/run/secrets/app' }), { readFile }).join(), /Set NEXCONN_APP_SECRET or NEXCONN_APP_SECRET_FILE, not both/)
  t.match(problems(baseEnv({ NEXCONN_APP_SECRET: undefined, NEXCONN_APP_SECRET_FILE: '/run/secrets/empty' }), { readFile }).join(), /points to an empty file/)
  t.match(problems(baseEnv({ PORT_FILE: '/run/secrets/app' }), { readFile }).join(), /PORT_FILE is not supported: only secrets accept _FILE/)

  for (const spec of VARIABLES.filter((v) => v.secret === true)) {
    const env = baseEnv({ [`${spec.name}_FILE`]: '/run/secrets/none' })
    t.match(problems(env, { readFile }).join('\n'), new RegExp(`${spec.name}_FILE`), `${spec.name} accepts _FILE`)
  }
})

t.test('secret values never appear in problems', async (t) => {
  const canary = 'CANARY-SECRET-VALUE-1234567890'
  const env = baseEnv({
    JWT_SECRET: canary.slice(0, 10),
    TOKEN_ENCRYPTION_KEY: canary,
    TOKEN_ENCRYPTION_KEYS_OLD: canary,
    ADMIN_API_KEY: canary.slice(0, 12),
    REDIS_PASSWORD: canary,
    REDIS_URL: `redis://:${canary}@`
  })
  const found = problems(env)
  t.ok(found.length >= 5, found.join('\n'))
  const pem = problems(baseEnv({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: canary }))
  t.equal(pem.length, 1)
  t.notMatch(pem.join(), /CANARY/)
  t.notMatch(found.join('\n'), /CANARY/)
  try { loadConfig(env) } catch (err) { t.notMatch(String((err as Error).message), /CANARY/) }
})

t.test('every problem is reported at once', async (t) => {
  const found = problems({ PORT: 'x', LOG_LEVEL: 'loud', NEXCONN_REGION: 'mars' })
  t.ok(found.length >= 5, `${found.length} problems`)
})

t.test('the README documents every variable with its default', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  t.equal(withTable(readme), readme, 'the configuration table is up to date (npm run docs:config)')
  for (const spec of VARIABLES) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${spec.name}\``))
    t.ok(row, `${spec.name} has a row in the README's configuration table`)
    if (spec.default !== undefined) t.match(row ?? '', `\`${spec.default}\``, `${spec.name} row shows its default`)
  }
})
