import type { BaseLogger } from 'pino'

/** Who the verified token speaks for, as the rest of the broker needs it. */
export interface Identity {
  /** The Nexconn user id: the raw claim, or hex SHA-256 of `issuer + "\n" + claim` in hash mode. */
  userId: string
  /** Display name, at most 64 UTF-16 code units: name claim, nickname, preferred_username, else the user id. */
  name: string
  /** Only an http(s) URL of at most 1024 bytes. */
  avatarUrl?: string
  /** The token's verified `iss`, if it has one. */
  issuer?: string
  /** The JWT's `exp` in ms since the epoch (callers may bound caches with it). */
  expiresAt: number
}

/** One identity provider's readiness, for `/readyz`. */
export interface ProviderState {
  /** Its issuer (or `default` for a single key that accepts any issuer). */
  label: string
  /** false while a JWKS provider has no key set loaded. */
  ready: boolean
}

export interface Authenticator {
  /** Verifies an `Authorization` header value; resolves an Identity or throws BrokerError. Never throws anything else. */
  authenticate (authorization: string | undefined): Promise<Identity>
  /** true once any provider can verify tokens (a secret or PEM key at once, a JWKS once loaded). */
  ready (): boolean
  providerStates (): ProviderState[]
  /** Starts background work (the initial JWKS fetches, each awaited at most its 2 s deadline); idempotent; never rejects. */
  start (): Promise<void>
  /** Clears timers and aborts fetches. */
  close (): Promise<void>
}

/** For metrics. Never receives a user id, a kid or any other token content. */
export interface AuthHooks {
  onJwksFetch?(result: 'ok' | 'error' | 'timeout' | 'not_modified'): void
  /** 'ok', 'cached', or a rejection reason (see INVALID_TOKEN_REASONS, or an error code such as 'missing_token'). */
  onVerify?(outcome: 'ok' | 'cached' | string): void
}

/** What the authenticator logs with: a pino logger or Fastify's `fastify.log` both fit. */
export type AuthLogger = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>
