// One call of `acquire()`, `tryAcquire()` or `using()`, checked before any node is called.
import { describeResources } from '../base/describe.js';
import { Lock } from '../lock/lock.js';
import type { NodeSet } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { hasWaitQueue } from '../scripts/wake-queue.js';
import { type AcquireSettings, checkExtensionLimits, resolveAcquireOptions, type WaitSettings } from '../settings/resolve-options.js';
import { resolveResources } from '../settings/resolve-resources.js';
import { checkAcquireTtl } from '../settings/ttl.js';
import type { ExtensionLimits } from './auto-extend.js';

/** One validated call of `acquire()` or `using()`. */
export interface AcquireRequest extends WaitSettings {
  readonly resources: readonly string[];
  readonly keys: readonly string[];
  readonly fencing: boolean;
  /** Whether the lock goes to the first waiter queued on the nodes (see `AcquireOptions.fair`). */
  readonly fair: boolean;
  readonly reentrant: Lock | undefined;
  readonly ttlMs: number;
}

/** One call of `acquire()` or `using()` after validation. */
export interface CallRequest extends AcquireRequest {
  /** The caller's own signal, if any. */
  readonly callerSignal: AbortSignal | undefined;
  readonly autoExtend: boolean;
  readonly limits: ExtensionLimits;
}

/** Checks one call's arguments and options (the `Redlock`'s `callDefaults` when it passes none) and makes its request. */
export function resolveRequest(
  set: NodeSet,
  callDefaults: AcquireSettings,
  resources: unknown,
  ttlMs: unknown,
  options: unknown,
  scope: 'acquire' | 'tryAcquire' | 'using',
): CallRequest {
  const names = resolveResources(resources, set.options.keyPrefix);
  const settings = options === undefined ? callDefaults : resolveAcquireOptions(options, set.options, scope);
  // A TTL under `shortTtlMs` is refused for a lock kept extended: by `using()`, or with `autoExtend`.
  const extendedBy = scope === 'using' ? '`using()`' : settings.autoExtend ? '`autoExtend`' : undefined;
  const checkedTtlMs = checkAcquireTtl(ttlMs, set.nodes, set.options, quorumOf(set.nodes.length), names.keys.length, extendedBy);
  const { reentrant } = settings;
  if (reentrant !== undefined && !Lock.isLock(reentrant)) {
    const got = reentrant instanceof Lock ? 'an object that only looks like one (made from its prototype, or a copy)' : `\`${typeof reentrant}\``;
    throw new TypeError(`Expected \`reentrant\` to be a Lock handed out by \`acquire()\` or \`using()\`, got ${got}`);
  }
  if (reentrant !== undefined && !reentrant.covers(set, names.keys)) {
    const got = reentrant.isOf(set) ? `one on ${describeResources(reentrant.resources)}` : 'a lock of another Redlock';
    throw new RangeError(`Expected \`reentrant\` to be a lock of this Redlock on ${describeResources(names.resources)}, got ${got}`);
  }
  // A re-entrant handle shares its hold's fencing token: it cannot have one the hold was not given.
  if (reentrant !== undefined && settings.fencing && reentrant.fencingToken === undefined) {
    throw new TypeError('Expected `reentrant` to be a lock acquired with `fencing: true`, as this call asks for a fencing token: a re-entrant handle shares its hold\'s');
  }
  // A fair call's turn is its place in the nodes' wait queues: a key they keep none for could not be fair.
  const unqueued = settings.fair ? names.keys.findIndex((key) => !hasWaitQueue(key)) : -1;
  if (unqueued !== -1) {
    throw new RangeError(`Expected resources a fair lock can queue on, got ${JSON.stringify(names.resources[unqueued])}: its key has a \`}\` outside a hash tag, so the nodes keep no wait queue for it. Give it a tag (\`{...}\`) or leave the \`}\` out`);
  }
  // `using()` always extends, and takes no `autoExtend`.
  const limits = checkExtensionLimits(settings, scope === 'using' ? undefined : settings.autoExtend);
  // Field by field rather than by spreading the parts: on this per-call path, spreads cost more than all
  // the validation did.
  return {
    resources: names.resources,
    keys: names.keys,
    ttlMs: checkedTtlMs,
    retryCount: settings.retryCount,
    retryDelayMs: settings.retryDelayMs,
    retryJitterMs: settings.retryJitterMs,
    waitMs: settings.waitMs,
    isRetryCountDefault: settings.isRetryCountDefault,
    // Every call that waits stops when the Redlock closes; one with a signal of its own gets a signal for
    // both once it is sure to run (see `callSignalOf`).
    callerSignal: settings.signal,
    fencing: settings.fencing,
    fair: settings.fair,
    reentrant,
    autoExtend: settings.autoExtend,
    limits,
  };
}
