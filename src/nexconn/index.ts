/** The Nexconn Platform API client: what the rest of the broker uses of it. See docs/nexconn-client.md. */
export { createNexconnClient } from './client.ts'
export type { NexconnClient, NexconnDeps, NexconnHooks } from './types.ts'
