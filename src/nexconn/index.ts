/** The Nexconn Platform API client. See docs/nexconn-client.md. */
export { createNexconnClient } from './client.ts'
export { sign } from './signing.ts'
export { DEFAULT_LIMITS, defaultTuning, ENDPOINTS, EXPIRE_BATCH_SIZE, type NexconnTuning } from './tuning.ts'
export type {
  AttemptOutcome,
  CallOptions,
  IssueTokenInput,
  NexconnClient,
  NexconnDeps,
  NexconnHealth,
  NexconnHooks
} from './types.ts'
