/**
 * Every Redis key the broker writes, in one place, with its Redis Cluster hash tag.
 *
 * In Cluster mode a script or multi-key command may only touch keys of one slot, and only the part
 * between the first `{` and the next `}` decides the slot. The tags are chosen so that:
 * - one user's keys (token, revocation cutoff, issue lock, forceRefresh throttle) share a slot:
 *   the put and revoke scripts read the cutoff and write the token atomically; users spread over
 *   every slot, so the cache scales with the primaries;
 * - one Nexconn endpoint's quota window and its 429 back-off share a slot: the admission script
 *   reads both;
 * - the replica registry and the invalidation log are single keys with a fixed tag, so their
 *   slot is known in advance (one primary carries them; both are small);
 * - webhook event ids and signatures are single-key operations: no tag needed, they spread.
 * `REDIS_KEY_PREFIX` stays outside every tag (and may hold no braces), so it never decides a slot.
 * `test/cluster/key-layout.test.ts` checks each operation's keys with CLUSTER KEYSLOT.
 */

/** `userKey` is already tagged: `{<App Key>:<HMAC of the user id>}` (see tokens/keys.ts). */
export function userKeys (prefix: string, userKey: string): { token: string, revoked: string, lock: string, throttle: string } {
  return {
    token: `${prefix}${userKey}:t`,
    revoked: `${prefix}${userKey}:r`,
    lock: `${prefix}${userKey}:l`,
    throttle: `${prefix}${userKey}:f`
  }
}

/** `scope` already holds the prefix and App Key, e.g. `ctb:nexconn:quota:<App Key>:`. */
export function quotaKeys (scope: string, endpoint: string): { window: string, backoff: string } {
  const tag = `{${scope}${endpoint}}`
  return { window: `${tag}:window`, backoff: `${tag}:backoff` }
}

/** `kind` is `wh` (event ids) or `whs` (signatures); `digest` the SHA-256 of what is remembered. */
export function webhookKey (prefix: string, kind: string, digest: string): string {
  return `${prefix}${kind}:${digest}`
}

/** The sorted set of live replicas (member: replica id, score: heartbeat expiry). */
export function replicasKey (prefix: string): string {
  return `${prefix}{replicas}`
}

/** The stream of revocations and purges every replica replays (see tokens/invalidation.ts). */
export function invalidationLogKey (prefix: string): string {
  return `${prefix}{invalidations}`
}
