/**
 * The token flow, in order:
 *   1. `Authorization` → token (missing_token / invalid_request / too large, before any crypto);
 *   2. verification cache (sha256 of the whole token → Identity, never beyond the token's exp);
 *   3. header and payload decoded by us, without trusting them yet: the `iss` selects the provider
 *      (an unknown issuer is refused without any fetch or signature work), `alg` must be one of
 *      that provider's pinned algorithms (exact case, so every spelling of "none" fails), `kid`
 *      a bounded string; `jku`, `x5u`, `jwk` and `x5c` are never read;
 *   4. the provider's @fastify/jwt namespace verifies: signature with the key (the secret, the PEM
 *      key, or the JWKS key for `kid`), `exp` required, `nbf`, `iss`, `aud`, clock tolerance;
 *      every error code is mapped to a 401 reason, never a 500;
 *   5. our own checks fast-jwt does not make (`iat` in the future, non-finite `exp`, `iss` type,
 *      Cognito's `client_id` / `aud` and `token_use`);
 *   6. identity mapping (identity.ts); success cached.
 */
import { hash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { JwtConfig, JwtProvider } from '../config.ts'
import { BrokerError } from '../errors.ts'
import { extractBearerToken } from './bearer.ts'
import { mapIdentity } from './identity.ts'
import { isPlainObject, MAX_KID_LENGTH } from './jwk.ts'
import type { NamespaceVerifier, Provider } from './providers.ts'
import { fastJwtCode, invalidToken, reasonForFastJwtCode, rejectionReason, type InvalidTokenReason } from './reasons.ts'
import type { Authenticator, AuthHooks, AuthLogger, Identity, ProviderState } from './types.ts'

/** Bounds of the verification cache. Entries also never outlive the token's `exp`. */
export const VERIFICATION_CACHE_MAX = 10_000
export const VERIFICATION_CACHE_MAX_TTL_MS = 10 * 60_000

export interface AuthenticatorDeps {
  logger: AuthLogger
  hooks?: AuthHooks
  providers: readonly Provider[]
  /** The provider's @fastify/jwt namespace, by name. */
  verifierOf: (namespace: string) => NamespaceVerifier
  /** The cache, shared with the providers (they clear it when keys are removed). */
  cache: LRUCache<string, Identity>
}

interface Decoded {
  header: Record<string, unknown>
  payload: Record<string, unknown>
}

export function createCache (): LRUCache<string, Identity> {
  return new LRUCache<string, Identity>({ max: VERIFICATION_CACHE_MAX })
}

export function createAuthenticator (config: JwtConfig, deps: AuthenticatorDeps): Authenticator {
  const { logger, providers, cache } = deps
  const hooks = deps.hooks ?? {}
  const byIssuer = new Map<string, Provider>()
  for (const provider of providers) for (const issuer of provider.config.issuers) byIssuer.set(issuer, provider)
  // Only a single secret or PEM key configured by variables accepts any issuer.
  const catchAll = providers.length === 1 && providers[0]?.config.issuers.length === 0 ? providers[0] : undefined
  // An algorithm no provider accepts ("none" in any case, HMAC with only public keys) is refused before anything else.
  const anyAlgorithm: readonly string[] = [...new Set(providers.flatMap((provider) => provider.config.algorithms))]

  function emit (outcome: string): void {
    try {
      hooks.onVerify?.(outcome)
    } catch {
      // A metrics hook must never decide an authentication.
    }
  }

  function select (payload: Record<string, unknown>): Provider {
    if (catchAll !== undefined) return catchAll
    const iss = Object.hasOwn(payload, 'iss') ? payload.iss : undefined
    if (iss === undefined) throw invalidToken('missing_claim', 'The token has no iss claim.')
    if (typeof iss !== 'string') throw invalidToken('bad_claim_type', 'The iss claim has the wrong type.')
    const provider = byIssuer.get(iss)
    if (provider === undefined) throw invalidToken('wrong_issuer')
    return provider
  }

  async function verifyToken (token: string): Promise<Identity> {
    const { header, payload } = decode(token)
    checkHeader(header, anyAlgorithm)
    const provider = select(payload)
    if (!(provider.config.algorithms as readonly string[]).includes(header.alg as string)) throw invalidToken('alg_not_allowed')
    let verified: unknown
    try {
      verified = await deps.verifierOf(provider.namespace).verify(token)
    } catch (err) {
      throw mapVerifyError(err, payload, provider.config, logger)
    }
    if (!isPlainObject(verified)) throw invalidToken('malformed')
    const expiresAt = checkExtraClaims(verified, provider.config, config.clockToleranceS)
    return mapIdentity(verified, provider.config, expiresAt)
  }

  async function authenticate (authorization: string | undefined): Promise<Identity> {
    try {
      const token = extractBearerToken(authorization, config.maxTokenBytes)
      const cacheKey = hash('sha256', token, 'base64url')
      const cached = cache.get(cacheKey)
      if (cached !== undefined && cached.expiresAt > Date.now()) {
        emit('cached')
        return { ...cached }
      }
      const identity = await verifyToken(token)
      const ttl = Math.min(identity.expiresAt - Date.now(), VERIFICATION_CACHE_MAX_TTL_MS)
      if (ttl >= 1) cache.set(cacheKey, Object.freeze({ ...identity }), { ttl: Math.floor(ttl) })
      emit('ok')
      return identity
    } catch (err) {
      if (err instanceof BrokerError) {
        const reason = rejectionReason(err)
        if (err.code !== 'invalid_token') logger.debug({ module: 'auth', reason }, 'bearer token rejected')
        emit(reason)
        throw err
      }
      // A bug or an error nobody mapped: still a 401, and only the error's type is logged.
      logger.error({ module: 'auth', errorName: err instanceof Error ? err.name : typeof err }, 'unexpected error while verifying a token')
      emit('invalid')
      throw invalidToken('invalid')
    }
  }

  return {
    authenticate,
    // Ready once any provider can verify: one identity provider's outage must not take the others' users down.
    ready: () => providers.some((provider) => provider.ready()),
    providerStates: () => providers.map((provider): ProviderState => ({ label: provider.config.label, ready: provider.ready() })),
    start: async () => { await Promise.all(providers.map(async (provider) => { await provider.store?.start() })) },
    close: async () => {
      cache.clear()
      await Promise.all(providers.map(async (provider) => { await provider.store?.close() }))
    }
  }
}

/** Header and payload as the token claims them; nothing in them is trusted until verified. */
function decode (token: string): Decoded {
  const [headerPart = '', payloadPart = ''] = token.split('.')
  const header = parseSegment(headerPart)
  const payload = parseSegment(payloadPart)
  if (!isPlainObject(header) || !isPlainObject(payload)) throw invalidToken('malformed')
  return { header, payload }
}

function checkHeader (header: Record<string, unknown>, algorithms: readonly string[]): void {
  const alg = Object.hasOwn(header, 'alg') ? header.alg : undefined
  if (typeof alg !== 'string' || !algorithms.includes(alg)) throw invalidToken('alg_not_allowed')
  const kid = Object.hasOwn(header, 'kid') ? header.kid : undefined
  if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH)) throw invalidToken('unknown_key')
}

function parseSegment (segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

/**
 * A verification failure as a 401 reason. Only the error's code is read: fast-jwt errors may carry
 * the decoded payload or header. A key fetcher's own refusal (unknown kid, keys not loaded) comes
 * back wrapped by fast-jwt and is unwrapped here.
 */
function mapVerifyError (err: unknown, payload: Record<string, unknown>, provider: JwtProvider, logger: AuthLogger): BrokerError {
  const original = (err as { originalError?: unknown } | undefined)?.originalError
  if (err instanceof BrokerError) return err
  if (original instanceof BrokerError) return original
  const code = fastJwtCode(err)
  let reason = reasonForFastJwtCode(code)
  let detail: string | undefined
  // fast-jwt checks claims only once the signature is good, so naming the claim reveals nothing.
  if (reason === 'bad_claim_type' || reason === 'missing_claim') [reason, detail] = classifyClaimError(payload, provider)
  logger.debug({ module: 'auth', reason, jwtErrorCode: code ?? 'none' }, 'bearer token rejected')
  return invalidToken(reason, detail)
}

/**
 * fast-jwt reports a missing or bad `exp`/`nbf`/`aud`/`iss` with one code whatever the claim;
 * its message names the claim but messages are not an API. This re-checks, in fast-jwt's order,
 * which claim failed, so the detail can name it.
 */
function classifyClaimError (payload: Record<string, unknown>, provider: JwtProvider): [InvalidTokenReason, string | undefined] {
  const audiencesChecked = provider.clientIds.length === 0 && provider.audiences.length > 0
  for (const [claim, checked] of [['exp', true], ['iss', provider.issuers.length > 0], ['aud', audiencesChecked]] as const) {
    if (checked && !Object.hasOwn(payload, claim)) return ['missing_claim', `The token has no ${claim} claim.`]
  }
  for (const claim of ['nbf', 'exp'] as const) {
    if (Object.hasOwn(payload, claim) && typeof payload[claim] !== 'number') return ['bad_claim_type', `The ${claim} claim has the wrong type.`]
  }
  if (audiencesChecked && Object.hasOwn(payload, 'aud')) {
    const values: unknown[] = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
    if (values.some((value) => typeof value !== 'string')) return ['bad_claim_type', 'The aud claim has the wrong type.']
    if (!values.some((value) => provider.audiences.includes(value as string))) return ['wrong_audience', undefined]
  }
  if (provider.issuers.length > 0 && Object.hasOwn(payload, 'iss')) {
    if (typeof payload.iss !== 'string') return ['bad_claim_type', 'The iss claim has the wrong type.']
    if (!provider.issuers.includes(payload.iss)) return ['wrong_issuer', undefined]
  }
  return ['invalid', undefined]
}

/**
 * Checks fast-jwt leaves out: `exp` must be finite (JSON `1e999` parses to Infinity, which
 * fast-jwt accepts as a number), `iat` (honoured: a number, not in the future beyond the
 * tolerance), `iss` must be a string even when issuers are not checked (it feeds the hash),
 * Cognito-style client ids and `token_use`. Returns `exp` in ms.
 */
function checkExtraClaims (payload: Record<string, unknown>, provider: JwtProvider, clockToleranceS: number): number {
  const exp = payload.exp
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalidToken('bad_claim_type', 'The exp claim has the wrong type.')
  if (Object.hasOwn(payload, 'iat')) {
    const iat = payload.iat
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidToken('bad_claim_type', 'The iat claim has the wrong type.')
    if (iat * 1000 > Date.now() + clockToleranceS * 1000) throw invalidToken('issued_in_future')
  }
  if (Object.hasOwn(payload, 'nbf') && !Number.isFinite(payload.nbf)) throw invalidToken('bad_claim_type', 'The nbf claim has the wrong type.')
  if (Object.hasOwn(payload, 'iss') && typeof payload.iss !== 'string') throw invalidToken('bad_claim_type', 'The iss claim has the wrong type.')
  if (provider.clientIds.length > 0) checkClient(payload, provider)
  if (provider.tokenUse.length > 0) {
    const use = Object.hasOwn(payload, 'token_use') ? payload.token_use : undefined
    if (use === undefined) throw invalidToken('missing_claim', 'The token has no token_use claim.')
    if (typeof use !== 'string' || !(provider.tokenUse as readonly string[]).includes(use)) throw invalidToken('wrong_token_use')
  }
  return exp * 1000
}

/**
 * With client ids (Cognito): an access token names its app client in `client_id` and has no `aud`;
 * an ID token names it in `aud`. Either must be listed (or `aud` be one of the audiences).
 */
function checkClient (payload: Record<string, unknown>, provider: JwtProvider): void {
  const clientId = Object.hasOwn(payload, 'client_id') ? payload.client_id : undefined
  const aud = Object.hasOwn(payload, 'aud') ? payload.aud : undefined
  if (clientId === undefined && aud === undefined) throw invalidToken('missing_claim', 'The token has neither a client_id nor an aud claim.')
  if (clientId !== undefined && typeof clientId !== 'string') throw invalidToken('bad_claim_type', 'The client_id claim has the wrong type.')
  const audiences: unknown[] = aud === undefined ? [] : Array.isArray(aud) ? aud : [aud]
  if (audiences.some((value) => typeof value !== 'string')) throw invalidToken('bad_claim_type', 'The aud claim has the wrong type.')
  const accepted = (typeof clientId === 'string' && provider.clientIds.includes(clientId)) ||
    audiences.some((value) => provider.clientIds.includes(value as string) || provider.audiences.includes(value as string))
  if (!accepted) throw invalidToken('wrong_audience')
}
