export type { RedisAdapter, Unsubscribe } from './base/adapter.js';
export { type Clock, SYSTEM_CLOCK } from './base/clock.js';
export {
  type AcquireTraceContext,
  type AcquireTraceResult,
  type AttemptNodeReport,
  type AttemptTraceContext,
  type AttemptTraceResult,
  DIAGNOSTICS_CHANNELS,
  type ElectionLossMessage,
  type ElectionMessage,
  type ExtendTraceContext,
  type ExtendTraceResult,
  type LockLostMessage,
  type NodeErrorMessage,
  type NodeOperation,
  type ReleaseTraceContext,
  type HoldTraceContext,
  type HoldTraceResult,
  type ReleaseTraceResult,
  type TracedCallContext,
} from './base/diagnostics.js';
export {
  type AcquireFailureReason,
  LockAcquireError,
  LockExtendError,
  LockInspectError,
  LockLimitError,
  LockLostError,
  LockReleaseError,
  MisconfiguredNodeError,
  NodeConfigurationError,
  RedlockClosedError,
} from './base/errors.js';
export { ClaimError, type ClaimErrorOptions, PermitError, type PermitFailureReason, ReadWriteLockError, type ReadWriteFailureReason } from './base/claim-errors.js';
export { NodeError, RedlockError } from './base/redlock-error.js';
export { CLOSE_TIMEOUT_MS } from './base/lifecycle.js';
export {
  OWNED_SUBSCRIBER_IDLE_MS,
  OwnedSubscriber,
  type OwnedSubscriberClient,
  type OwnedSubscriberConnection,
  type OwnedSubscriberLease,
  SUBSCRIBER_CONNECTION_NAME,
  subscriberConnectionNameOf,
} from './base/owned-subscriber.js';
export { evalCommand, evalshaCommand, setIfAbsentCommand, trySetCommand } from './base/raw-commands.js';
export { Election } from './election.js';
export { type Leader, Leadership } from './leadership.js';
export { Lock, type LockState } from './lock/lock.js';
export type { NodeHealth } from './nodes/node-state.js';
export type {
  AcquireOptions,
  CampaignOptions,
  ElectionOptions,
  ObserveOptions,
  PermitOptions,
  PermitUsingOptions,
  RedlockNode,
  RedlockOptions,
  SemaphoreOptions,
  TryAcquireOptions,
  TryPermitOptions,
  ReadWriteOptions,
  TryReadWriteOptions,
  ReadWriteUsingOptions,
  UsingOptions,
} from './options.js';
export { Permit, type PermitState } from './permits/permit.js';
export { Semaphore } from './semaphore.js';
export { ReadWriteLock } from './read-write-lock.js';
export { ReadWriteHandle, type ReadWriteState } from './permits/read-write-handle.js';
export type { ReadWriteMode } from './scripts/read-write-acquire.js';
export { MAX_LABEL_LENGTH } from './scripts/label.js';
export { MAX_PERMIT_LIMIT } from './scripts/permit-acquire.js';
export { DEFAULT_OPTIONS, MAX_TTL_MS } from './settings/defaults.js';
export type {
  AcquireAttempt,
  AcquireNodeOutcome,
  ExtendNodeOutcome,
  FenceNodeOutcome,
  InspectNodeOutcome,
  LockInspection,
  NodeOutcome,
  PendingNodeOutcome,
  PermitAcquireNodeOutcome,
  PermitAcquireStatus,
  PermitAttempt,
  ReadWriteAcquireNodeOutcome,
  ReadWriteAcquireStatus,
  ReadWriteAttempt,
  ReadWriteInspection,
  ReadWriteInspectNodeOutcome,
  PermitExtendNodeOutcome,
  SemaphoreInspection,
  SemaphoreInspectNodeOutcome,
  ReleaseNodeOutcome,
  ReleaseResult,
} from './base/outcomes.js';
export { Redlock } from './redlock.js';
export type { NodeStats, RedlockStats } from './nodes/stats.js';
