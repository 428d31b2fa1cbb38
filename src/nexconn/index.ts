/** The Nexconn Platform API client. See docs/nexconn-client.md. */
export {
  createNexconnClient,
  defaultTuning,
  DEFAULT_LIMITS,
  ENDPOINTS,
  EXPIRE_BATCH_SIZE,
  type AttemptOutcome,
  type CallOptions,
  type IssueTokenInput,
  type NexconnClient,
  type NexconnDeps,
  type NexconnHealth,
  type NexconnHooks,
  type NexconnTuning
} from './client.ts'
export { sign } from './signing.ts'
