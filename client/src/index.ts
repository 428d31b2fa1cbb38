/**
 * chat-token-broker-client: gets the user's Nexconn Chat token from chat-token-broker for the
 * chat SDK. Zero dependencies; runs in browsers, React Native and Node.js ≥ 22.
 */
export { createTokenProvider } from './provider.ts'
export type { AppJwtSource, TokenProvider, TokenProviderOptions, TokenState } from './provider.ts'
export { CLIENT_ERROR_CODES, isTokenProviderError, TokenProviderError } from './errors.ts'
export type { ClientErrorCode, TokenErrorCode } from './errors.ts'
export { DEFAULT_RETRY } from './backoff.ts'
export type { RetryOptions } from './backoff.ts'
export type { FetchLike, RequestInitLike, ResponseLike } from './exchange.ts'
export { PROBLEM_CODES } from './api.generated.ts'
export type { Problem, ProblemCode, TokenResponse } from './api.generated.ts'
