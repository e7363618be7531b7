// The names of the attributes this instrumentation sets on spans and metrics. OpenTelemetry's semantic
// conventions have none for locks, so they are namespaced `redlock.*`; `error.type` is the convention's own.

/**
 * The span and metric attributes this instrumentation sets. Resources are the names the caller chose;
 * a lock's token is never an attribute, nor part of any value.
 */
export const REDLOCK_ATTRIBUTES = {
  /** What is locked: `'lock'`, `'semaphore'` or `'read-write'`. */
  primitive: 'redlock.primitive',
  /** The call: `'acquire'`, `'tryAcquire'`, `'using'`, `'extend'` or `'release'`. */
  operation: 'redlock.operation',
  /** The resources, without the key prefix (string array). */
  resources: 'redlock.resources',
  /** A read-write lock's mode: `'read'` or `'write'`. */
  mode: 'redlock.mode',
  /** How many permits a semaphore call asks for or holds. */
  permits: 'redlock.permits',
  /** The TTL asked for, in milliseconds. */
  ttlMs: 'redlock.ttl_ms',
  /** How many nodes must agree. */
  quorum: 'redlock.quorum',
  /** How many nodes the `Redlock` has. */
  nodeCount: 'redlock.node_count',
  /** Whether an acquisition re-entered a lock its owner already held (no attempt is made then). */
  reentrant: 'redlock.reentrant',
  /** How many attempts an acquisition made. */
  attempts: 'redlock.attempts',
  /** One attempt's number, 1 for the first. */
  attemptNumber: 'redlock.attempt.number',
  /** Whether an attempt asked one node alone first: the node whose wake started it (a waiter woken by a release). */
  isWoken: 'redlock.attempt.is_woken',
  /** How a call ended: `'acquired'` or `'failed'` for an acquisition; an attempt's own outcome on its span. */
  outcome: 'redlock.outcome',
  /** Why an acquisition failed: a `LockAcquireError`'s (or `PermitError`'s…) `reason`, else the error's name. */
  failureReason: 'redlock.failure.reason',
  /** Milliseconds of validity left when the call resolved. */
  validityMs: 'redlock.validity_ms',
  /** Each node's answer, by node index (string array). */
  nodeStatuses: 'redlock.node.statuses',
  /** Index of a node in the array passed to the `Redlock` constructor. */
  nodeIndex: 'redlock.node.index',
  /** The operation a failed node call was part of (`'acquire'`, `'extend'`, `'release'`, `'cleanup'`…). */
  nodeOperation: 'redlock.node.operation',
  /** How many nodes had deleted the keys when a release was confirmed. */
  releasedCount: 'redlock.released_count',
  /** How a hold ended, on `redlock.hold.duration`: `'released'` or `'lost'`. */
  holdEnd: 'redlock.hold.end',
  /** Why a lock was lost: `'quorum-lost'` or `'validity-ran-out'`. */
  lostReason: 'redlock.lost.reason',
  /** OpenTelemetry's `error.type`: the error's name, or `'timeout'`/`'down'` for a node call. */
  errorType: 'error.type',
} as const;
