/**
 * The public contract: every environment variable the service reads, with its default and
 * whether it is a secret. The README's configuration table is generated from this list
 * (`npm run docs:config`), and a test keeps the two in step.
 */

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
  { name: 'TRUST_PROXY', group: 'server', default: 'false', description: 'Whose `X-Forwarded-For` to believe for the client address: `false` (none: bare or sidecar), a hop count (`1` behind one ingress or load balancer), or a comma-separated list of proxy IPs/CIDRs. `true` believes any hop, so clients can pick their address.' },
  { name: 'SHUTDOWN_GRACE_MS', group: 'operations', default: '10000', description: 'How long in-flight requests may take to finish after SIGTERM; at least `NEXCONN_DEADLINE_MS`.' },
  { name: 'SHUTDOWN_DELAY_MS', group: 'operations', default: '0', description: 'After SIGTERM, keep serving (with `/readyz` failing) this long before closing the listener, so load balancers stop sending traffic first. Kubernetes does this with the chart\'s preStop pause instead.' },
  { name: 'MAX_EVENT_LOOP_DELAY_MS', group: 'operations', default: '1000', description: 'Shed load (503 `overloaded`) while the event loop lags more than this; 0 disables.' },
  { name: 'METRICS_PORT', group: 'operations', description: 'Serve `/metrics` on this separate port instead of the API port.' },
  { name: 'DOCS_ENABLED', group: 'operations', description: 'Serve the OpenAPI UI at `/docs`. Unset: on, except with `NODE_ENV=production` (the image sets it), where only `DOCS_ENABLED=true` turns it on.' },
  { name: 'NEXCONN_APP_KEY', group: 'nexconn', description: 'The App Key from the Nexconn console. Required (except in `npm run dev`).' },
  { name: 'NEXCONN_APP_SECRET', group: 'nexconn', secret: true, description: 'The App Secret from the Nexconn console. Required (except in `npm run dev`).' },
  { name: 'NEXCONN_REGION', group: 'nexconn', default: 'sg', description: 'Data centre of the app: `sg`, `us` or `sau`. Picks the documented primary and backup domains.' },
  { name: 'NEXCONN_API_URLS', group: 'nexconn', description: 'Comma-separated base URLs tried in order; overrides `NEXCONN_REGION`.' },
  { name: 'NEXCONN_ALLOW_HTTP', group: 'nexconn', default: 'false', description: 'Allow `http://` API URLs on non-loopback hosts (loopback is always allowed).' },
  { name: 'NEXCONN_TIMEOUT_MS', group: 'nexconn', default: '3000', description: 'Time allowed for one attempt against one domain.' },
  { name: 'NEXCONN_DEADLINE_MS', group: 'nexconn', default: '8000', description: 'Time allowed for a whole call, failover and quota wait included.' },
  { name: 'NEXCONN_USER_DISABLED_CODES', group: 'nexconn', description: 'Comma-separated Nexconn business codes that mean "this user may not obtain tokens" (soft-deleted, blocked); answered as `user_disabled` (403). Nexconn has not documented them: the broker logs every code it does not know, once.' },
  { name: 'NEXCONN_TOKEN_TTL_S', group: 'nexconn', default: '0', description: 'Token lifetime configured in the Nexconn console, in seconds; 0 = tokens never expire (the console default).' },
  { name: 'JWT_SECRET', group: 'jwt', secret: true, description: 'HMAC secret (at least 32 bytes). One of the four key modes.' },
  { name: 'JWT_PUBLIC_KEY', group: 'jwt', secret: true, description: 'PEM public key (RSA of at least 2048 bits, EC, Ed25519) or X.509 certificate. One of the four key modes.' },
  { name: 'JWT_JWKS_URL', group: 'jwt', description: 'HTTPS URL of a JWKS. One of the four key modes; needs `JWT_ISSUER` and `JWT_AUDIENCE` (or `JWT_CLIENT_IDS`).' },
  { name: 'JWT_OIDC_ISSUER', group: 'jwt', description: 'An OpenID Connect issuer, exactly as its tokens name it: the JWKS URL is read from its `/.well-known/openid-configuration` (whose `issuer` must match) and re-read on the JWKS schedule. One of the four key modes; needs `JWT_AUDIENCE` or `JWT_CLIENT_IDS`.' },
  { name: 'JWT_ISSUERS_FILE', group: 'jwt', description: 'Path of a JSON or YAML list of trusted issuers, each with its own key source, audiences and claim mapping (docs/authentication.md); replaces the single-issuer `JWT_*` key and issuer settings.' },
  { name: 'JWT_ALGORITHMS', group: 'jwt', description: 'Comma-separated allowed algorithms. Defaults: `HS256` (secret), by key type (PEM: `RS256`, the curve\'s `ES*`, `EdDSA`), `RS256` (JWKS, OIDC).' },
  { name: 'JWT_ISSUER', group: 'jwt', description: 'Accepted `iss` values (comma-separated, exact match).' },
  { name: 'JWT_AUDIENCE', group: 'jwt', description: 'Accepted `aud` values (comma-separated, exact match).' },
  { name: 'JWT_CLIENT_IDS', group: 'jwt', description: 'App client ids (comma-separated): an access token whose `client_id`, or an ID token whose `aud`, is listed is accepted (AWS Cognito); then `JWT_AUDIENCE` is not required.' },
  { name: 'JWT_TOKEN_USE', group: 'jwt', description: 'Accepted `token_use` values: `access`, `id`, or both comma-separated (AWS Cognito). Unset = not checked.' },
  { name: 'JWT_CLOCK_TOLERANCE_S', group: 'jwt', default: '30', description: 'Allowed clock skew for `exp`, `nbf` and `iat`, in seconds (0–300).' },
  { name: 'JWT_USER_ID_CLAIM', group: 'identity', default: 'sub', description: 'Claim holding the user id: its exact name first (`https://myapp.example.com/uid`, `cognito:username`), else a dotted path into nested claims (`app_metadata.chat_id`).' },
  { name: 'JWT_NAME_CLAIM', group: 'identity', default: 'name', description: 'Claim holding the display name, named the same way (then `nickname`, `preferred_username`, the user id).' },
  { name: 'JWT_AVATAR_CLAIM', group: 'identity', default: 'picture', description: 'Claim holding the avatar URL, named the same way (kept only if http(s), at most 1024 bytes).' },
  { name: 'USER_ID_MODE', group: 'identity', default: 'raw', description: '`raw`: the claim is the Nexconn user id. `hash`: the user id is hex SHA-256 of `issuer + "\\n" + claim`.' },
  { name: 'REDIS_URL', group: 'redis', description: '`redis://` or `rediss://` URL. Unset (and no Sentinel or Cluster) = in-memory cache, single instance.' },
  { name: 'REDIS_SENTINELS', group: 'redis', description: 'Comma-separated `host:port` list of Sentinels (needs `REDIS_SENTINEL_NAME`).' },
  { name: 'REDIS_SENTINEL_NAME', group: 'redis', description: 'Name of the Sentinel-monitored master.' },
  { name: 'REDIS_CLUSTER_NODES', group: 'redis', description: 'Comma-separated `host:port` list of Redis Cluster seed nodes.' },
  { name: 'REDIS_USERNAME', group: 'redis', description: 'ACL user name (Redis 6+; every managed offering). Used in every mode; a user name in `REDIS_URL` takes precedence.' },
  { name: 'REDIS_PASSWORD', group: 'redis', secret: true, description: 'Redis password (of `REDIS_USERNAME`, or the `default` user), in every mode; also sent to the Sentinels. A password in `REDIS_URL` takes precedence.' },
  { name: 'REDIS_TLS', group: 'redis', default: 'false', description: 'Use TLS to Redis (and to the Sentinels) in every mode; `rediss://` also turns it on for `REDIS_URL`.' },
  { name: 'REDIS_TLS_CA_FILE', group: 'redis', description: 'PEM file of the CA(s) that signed the Redis server certificates (a private CA, as with most managed offerings), trusted on top of the system CAs. Implies TLS.' },
  { name: 'REDIS_TLS_CERT_FILE', group: 'redis', description: 'PEM client certificate for Redis servers that require one (`tls-auth-clients yes`); needs `REDIS_TLS_KEY_FILE`. Implies TLS.' },
  { name: 'REDIS_TLS_KEY_FILE', group: 'redis', description: 'PEM private key of `REDIS_TLS_CERT_FILE`. The file is read at start and never logged.' },
  { name: 'REDIS_KEY_PREFIX', group: 'redis', default: 'ctb:', description: 'Prefix of every Redis key the broker writes.' },
  { name: 'TOKEN_ENCRYPTION_KEY', group: 'encryption', secret: true, description: 'Base64 of 32 random bytes; encrypts tokens in Redis (AES-256-GCM). Required with Redis.' },
  { name: 'TOKEN_ENCRYPTION_KEYS_OLD', group: 'encryption', secret: true, description: 'Comma-separated older keys, still accepted for reading during a rotation.' },
  { name: 'TOKEN_CACHE_MAX_AGE_S', group: 'encryption', default: '604800', description: 'How long a token that never expires is kept in cache (seconds).' },
  { name: 'TOKEN_MEMORY_CACHE_USERS', group: 'encryption', default: '30000', description: 'Users whose token each broker also keeps in its own memory for up to a minute (least recently served go first, then come from Redis). About 8.5 MiB of heap per 10,000 users (docs/benchmarks.md).' },
  { name: 'ADMIN_API_KEY', group: 'operations', secret: true, description: 'Enables `POST /v1/admin/revoke` (at least 32 characters).' },
  { name: 'CORS_ORIGINS', group: 'operations', description: 'Comma-separated allowed browser origins, or `*`. Unset = no CORS headers (native apps need none).' },
  { name: 'RATE_LIMIT_PER_MINUTE', group: 'operations', default: '60', description: 'Token requests per verified user per minute; 0 disables.' },
  { name: 'RATE_LIMIT_AUTH_FAILURES_PER_MINUTE', group: 'operations', default: '30', description: 'Failed authentications per client address per minute; past it, that address\'s bad tokens get 429 instead of 401 (a valid token is always served). 0 disables.' },
  { name: 'WEBHOOK_ENABLED', group: 'operations', default: 'false', description: 'Accept Nexconn webhooks at `POST /v1/webhooks/nexconn`.' },
  { name: 'WEBHOOK_NONCE_PARAM', group: 'operations', default: 'nonce', description: 'Query parameter carrying the webhook nonce.' },
  { name: 'WEBHOOK_TIMESTAMP_PARAM', group: 'operations', default: 'signTimestamp', description: 'Query parameter carrying the webhook timestamp.' },
  { name: 'WEBHOOK_SIGNATURE_PARAM', group: 'operations', default: 'signature', description: 'Query parameter carrying the webhook signature.' },
  { name: 'WEBHOOK_MAX_AGE_S', group: 'operations', default: '300', description: 'Webhooks with an older timestamp are refused.' }
]
