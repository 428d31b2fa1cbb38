/**
 * The token flow, in order:
 *   1. `Authorization` → token (missing_token / invalid_request / too large, before any crypto);
 *   2. verification cache (sha256 of the whole token → Identity, never beyond the token's exp);
 *   3. header decoded by us: `alg` must be one of the pinned algorithms (exact case, so every
 *      spelling of "none" fails), `kid` must be a bounded string; `jku`, `x5u`, `jwk`, `x5c`
 *      are never read;
 *   4. key: the secret, the PEM key, or the JWKS key for `kid` (JwksStore);
 *   5. fast-jwt: signature with the key's pinned algorithms, `exp` required, `nbf`, `iss`,
 *      `aud` (exact match), clock tolerance; every error code mapped to a 401 reason;
 *   6. our own checks fast-jwt does not make (`iat` in the future, non-finite `exp`, `iss` type);
 *   7. identity mapping (identity.ts); success cached.
 */
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { JwtConfig } from '../config.ts'
import { BrokerError } from '../errors.ts'
import { extractBearerToken } from './bearer.ts'
import { mapIdentity } from './identity.ts'
import { isPlainObject, MAX_KID_LENGTH } from './jwk.ts'
import { DEFAULT_JWKS_OPTIONS, JwksStore, type JwksOptions } from './jwks-store.ts'
import { fastJwtCode, invalidToken, reasonForFastJwtCode, rejectionReason, type InvalidTokenReason } from './reasons.ts'
import type { Authenticator, AuthHooks, AuthLogger, Identity } from './types.ts'
import { createStaticVerifier, createTokenVerifier, type VerifyFn } from './verifier.ts'

/** Bounds of the verification cache. Entries also never outlive the token's `exp`. */
export const VERIFICATION_CACHE_MAX = 10_000
export const VERIFICATION_CACHE_MAX_TTL_MS = 10 * 60_000

export interface AuthenticatorDeps {
  logger: AuthLogger
  hooks?: AuthHooks
  /** JWKS tuning; the defaults are the production values (tests shorten them). */
  jwks?: Partial<JwksOptions>
}

interface DecodedHeader {
  alg: string
  kid: string | undefined
}

export function createAuthenticator (config: JwtConfig, deps: AuthenticatorDeps): Authenticator {
  const { logger } = deps
  const hooks = deps.hooks ?? {}
  const cache = new LRUCache<string, Identity>({ max: VERIFICATION_CACHE_MAX })
  const pinned: readonly string[] = config.algorithms

  let store: JwksStore | undefined
  let staticVerifier: VerifyFn | undefined
  if (config.mode === 'jwks') {
    store = new JwksStore(config.jwksUrl, config.algorithms, { ...DEFAULT_JWKS_OPTIONS, ...deps.jwks }, {
      logger,
      hooks,
      makeVerifier: (pem, algorithms) => createTokenVerifier(pem, algorithms, config),
      onKeysRemoved: () => { cache.clear() }
    })
  } else {
    staticVerifier = createStaticVerifier(config)
  }

  function emit (outcome: string): void {
    try {
      hooks.onVerify?.(outcome)
    } catch {
      // A metrics hook must never decide an authentication.
    }
  }

  async function verifyToken (token: string): Promise<Identity> {
    const header = decodeHeader(token, pinned)
    const verify = store === undefined ? staticVerifier : (await store.resolve(header.kid, header.alg)).verify
    if (verify === undefined) throw new Error('BUG: no verifier')
    let payload: unknown
    try {
      payload = verify(token)
    } catch (err) {
      // Only the code is read: fast-jwt errors may carry the decoded payload or header.
      const code = fastJwtCode(err)
      let reason = reasonForFastJwtCode(code)
      let detail: string | undefined
      if (reason === 'bad_claim_type' || reason === 'missing_claim') [reason, detail] = classifyClaimError(token, config)
      logger.debug({ module: 'auth', reason, jwtErrorCode: code ?? 'none' }, 'bearer token rejected')
      throw invalidToken(reason, detail)
    }
    if (!isPlainObject(payload)) throw invalidToken('malformed')
    const expiresAt = checkExtraClaims(payload, config.clockToleranceS)
    return mapIdentity(payload, config, expiresAt)
  }

  async function authenticate (authorization: string | undefined): Promise<Identity> {
    try {
      const token = extractBearerToken(authorization, config.maxTokenBytes)
      const cacheKey = createHash('sha256').update(token).digest('base64url')
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
    ready: () => store === undefined || store.ready(),
    start: async () => { await store?.start() },
    close: async () => {
      cache.clear()
      await store?.close()
    }
  }
}

/** Decodes and checks the JOSE header before any key is looked up. */
function decodeHeader (token: string, pinned: readonly string[]): DecodedHeader {
  const header = parseSegment(token.slice(0, token.indexOf('.')))
  if (!isPlainObject(header)) throw invalidToken('malformed')
  const alg = Object.hasOwn(header, 'alg') ? header.alg : undefined
  if (typeof alg !== 'string' || !pinned.includes(alg)) throw invalidToken('alg_not_allowed')
  const kid = Object.hasOwn(header, 'kid') ? header.kid : undefined
  if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH)) throw invalidToken('unknown_key')
  return { alg, kid }
}

function parseSegment (segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

/**
 * fast-jwt reports a missing or bad `exp`/`nbf`/`aud`/`iss` with one code whatever the claim;
 * its message names the claim but messages are not an API. This runs only after the signature
 * was verified (fast-jwt checks claims after the signature) and re-checks, in fast-jwt's order,
 * which claim failed, so the detail can name it.
 */
function classifyClaimError (token: string, config: JwtConfig): [InvalidTokenReason, string | undefined] {
  const payload = parseSegment(token.split('.')[1] ?? '')
  if (!isPlainObject(payload)) return ['malformed', undefined]
  for (const [claim, checked] of [['exp', true], ['iss', config.issuers.length > 0], ['aud', config.audiences.length > 0]] as const) {
    if (checked && !Object.hasOwn(payload, claim)) return ['missing_claim', `The token has no ${claim} claim.`]
  }
  for (const claim of ['nbf', 'exp'] as const) {
    if (Object.hasOwn(payload, claim) && typeof payload[claim] !== 'number') return ['bad_claim_type', `The ${claim} claim has the wrong type.`]
  }
  if (config.audiences.length > 0 && Object.hasOwn(payload, 'aud')) {
    const aud = payload.aud
    const values: unknown[] = Array.isArray(aud) ? aud : [aud]
    if (values.some((value) => typeof value !== 'string')) return ['bad_claim_type', 'The aud claim has the wrong type.']
    if (!values.some((value) => config.audiences.includes(value as string))) return ['wrong_audience', undefined]
  }
  if (config.issuers.length > 0 && Object.hasOwn(payload, 'iss')) {
    if (typeof payload.iss !== 'string' || Array.isArray(payload.iss)) return ['bad_claim_type', 'The iss claim has the wrong type.']
    if (!config.issuers.includes(payload.iss)) return ['wrong_issuer', undefined]
  }
  return ['invalid', undefined]
}

/**
 * Checks fast-jwt leaves out: `exp` must be finite (JSON `1e999` parses to Infinity, which
 * fast-jwt accepts as a number), `iat` (honoured: a number, not in the future beyond the
 * tolerance) and `iss` must be a string even when issuers are not checked (it feeds the hash).
 * Returns `exp` in ms.
 */
function checkExtraClaims (payload: Record<string, unknown>, clockToleranceS: number): number {
  const exp = payload.exp
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalidToken('bad_claim_type', 'The exp claim has the wrong type.')
  if (Object.hasOwn(payload, 'iat')) {
    const iat = payload.iat
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidToken('bad_claim_type', 'The iat claim has the wrong type.')
    if (iat * 1000 > Date.now() + clockToleranceS * 1000) throw invalidToken('issued_in_future')
  }
  if (Object.hasOwn(payload, 'nbf') && !Number.isFinite(payload.nbf)) throw invalidToken('bad_claim_type', 'The nbf claim has the wrong type.')
  if (Object.hasOwn(payload, 'iss') && typeof payload.iss !== 'string') throw invalidToken('bad_claim_type', 'The iss claim has the wrong type.')
  return exp * 1000
}
