// Extending a hold on the nodes: the extend script on every node, decided by a quorum with validity left,
// and re-seeding nodes that lost our keys while a quorum still holds them.
import { validityMs } from '../base/clock.js';
import { LockExtendError, LockLostError } from '../base/errors.js';
import { describeOutcomes, type ExtendNodeOutcome, type NodeOutcome } from '../base/outcomes.js';
import { traceExtend } from '../base/tracing.js';
import { FanOut } from '../nodes/fan-out.js';
import type { NodeCallRun } from '../nodes/node-call.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { type ExtendStatus, extendScript, parseExtendReply } from '../scripts/extend.js';
import { ScriptReader } from '../scripts/lua-script.js';
import type { Hold } from './hold.js';
import { removeLateGrant } from './release.js';

/**
 * `lock.extend()`'s node calls ({@link extendOnEveryNode}), traced on `redlock-core.extend` when someone
 * listens, and counted among the hold's extensions in flight while they run (see `removeLateGrant`).
 */
export async function extendTraced(hold: Hold, resources: readonly string[], ttlMs: number, remainingValidityMs: () => number): Promise<void> {
  const nodeCount = hold.set.nodes.length;
  let decided: readonly (ExtendNodeOutcome | undefined)[] = [];
  const extension = traceExtend(
    { resources, ttlMs, quorum: quorumOf(nodeCount), nodeCount },
    () => extendOnEveryNode(hold, ttlMs, remainingValidityMs, (outcomes) => (decided = outcomes)).then(() => ({ remainingValidityMs: remainingValidityMs() })),
    () => decided,
  );
  const inFlight = (hold.extensionsInFlight ??= new Set());
  inFlight.add(extension);
  try {
    await extension;
  } finally {
    inFlight.delete(extension);
  }
}

/** Why an extension failed, for the error of the handle that asked: see {@link extendHold}. */
export interface ExtensionFailure<S extends string = string> {
  /**
   * `'not-held'`: the hold was released meanwhile, or no quorum holds our token any more (stop relying on
   * it); `'no-validity'`: a quorum agreed too late; `'nodes-unreachable'`: too few nodes answered.
   */
  readonly reason: 'not-held' | 'no-validity' | 'nodes-unreachable';
  /** The end of the error's message, after `Could not extend …: `. */
  readonly why: string;
  /** Every node's outcome. */
  readonly nodes: NodeOutcome<S>[];
}

/** How a kind of hold extends: its calls, and its errors. */
export interface HoldExtension<S extends string> {
  /** What each node runs: the lock's extend script, or a claim's over its fields in one hash. */
  readonly run: NodeCallRun<S>;
  readonly keyCount: number;
  /** The status of a node that extended. */
  readonly yes: S;
  /** The error an extension that failed rejects with. */
  errorOf(failure: ExtensionFailure<S>): Error;
  /** Its `why` when the hold was released while the extension ran: `the lock was released meanwhile`. */
  readonly releasedWhy: string;
  /** What the hold's signal aborts with when no quorum holds our token any more, caused by `error`. */
  lostErrorOf(error: Error): LockLostError;
  /** What the hold records of an applied extension's outcomes (`Lock.extensionNodes`), for a lock. */
  recorded?(calls: FanOut<S>): readonly (ExtendNodeOutcome | undefined)[];
  /** Hears the fan-out of an extension applied to the hold. */
  onAgreed?(calls: FanOut<S>): void;
}

/**
 * Extends `hold` to `ttlMs` on every node, as `extension` says: the one rule for every kind of hold.
 * Resolves with the outcomes known at the decision once a quorum agreed with validity left, as
 * `remainingValidityMs()` of the handle reads it then (an older extension that settled after a newer one
 * applied did not set the validity). Otherwise rejects, once every node reported, with
 * `extension.errorOf(…)` (or a node's configuration error), marking the hold lost when no quorum holds our
 * token any more.
 */
export async function extendHold<S extends string>(
  hold: Hold,
  ttlMs: number,
  extension: HoldExtension<S>,
  remainingValidityMs: () => number,
): Promise<readonly (NodeOutcome<S> | undefined)[]> {
  const { set } = hold;
  const { options, nodes, servers } = set;
  const { clock, driftFactor } = options;
  const start = clock.now();
  const sequence = hold.beginExtension(start, clock.wallNow(), ttlMs);
  const quorum = quorumOf(nodes.length);
  const calls = new FanOut<S>(set, 'extend', extension.yes).sendToEveryNode(ttlMs, extension.keyCount, extension.run, start);
  const hasQuorum = await calls.decided();
  const elapsedMs = clock.now() - start;
  const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
  if (
    hasQuorum &&
    validity > 0 &&
    !hold.isReleased &&
    servers.configurationError === undefined &&
    hold.applyExtension(sequence, ttlMs, start + elapsedMs + ttlMs, extension.recorded?.(calls))
  ) {
    extension.onAgreed?.(calls);
    // An older extension that settled after a newer one applied did not set the validity.
    if (remainingValidityMs() > 0) return [...calls.outcomes];
    throw extension.errorOf({ reason: 'no-validity', why: `no validity left after ${Math.round(clock.now() - start)} ms`, nodes: await calls.allSettled() });
  }
  // Failing is not urgent: wait for every node (each bounded by its timeout) to report them all.
  const outcomes = await calls.allSettled();
  if (servers.configurationError !== undefined) throw servers.configurationError;
  if (hold.isReleased) throw extension.errorOf({ reason: 'not-held', why: extension.releasedWhy, nodes: outcomes });
  let goneCount = 0;
  for (const outcome of outcomes) if (outcome.status !== extension.yes && outcome.status !== 'timeout' && outcome.status !== 'error') goneCount += 1;
  if (goneCount > nodes.length - quorum) {
    const error = extension.errorOf({ reason: 'not-held', why: `${describeOutcomes(outcomes)}, quorum is ${quorum}`, nodes: outcomes });
    hold.markLost(extension.lostErrorOf(error));
    throw error;
  }
  if (hasQuorum) throw extension.errorOf({ reason: 'no-validity', why: hold.whyNoValidity(elapsedMs), nodes: outcomes });
  throw extension.errorOf({ reason: 'nodes-unreachable', why: `${describeOutcomes(outcomes)}, quorum is ${quorum}`, nodes: outcomes });
}

/**
 * Extends the lock `hold` to `ttlMs` on every node (see {@link extendHold}); `onDecided` gets the outcomes
 * known at the decision. Rejects with a {@link LockExtendError} otherwise, whose `isLost` tells when the
 * lock was released meanwhile or no quorum holds our token any more.
 */
export async function extendOnEveryNode(
  hold: Hold,
  ttlMs: number,
  remainingValidityMs: () => number,
  onDecided?: (outcomes: readonly (ExtendNodeOutcome | undefined)[]) => void,
): Promise<void> {
  const outcomes = await extendHold<ExtendStatus>(
    hold,
    ttlMs,
    {
      run: new ScriptReader(extendScript, hold.keys, [hold.token, String(ttlMs), '0'], parseExtendReply),
      keyCount: hold.keys.length,
      yes: 'extended',
      errorOf: (failure) =>
        new LockExtendError(`Could not extend ${hold.describe()}: ${failure.why}`, { resources: hold.resources, nodes: failure.nodes, isLost: failure.reason === 'not-held' }),
      releasedWhy: 'the lock was released meanwhile',
      lostErrorOf: (error) => new LockLostError(`Lost the lock on ${hold.describe()}: a quorum of nodes no longer holds our token`, { resources: hold.resources, cause: error }),
      recorded: (calls) => [...calls.outcomes],
      // A quorum still holds the lock, so nodes that lost our keys (restarted empty) may get them back:
      // the lock regains its full margin. In the background: the validity was decided with the quorum,
      // re-seeding only adds holders, and waiting for a slow node would eat the validity just won.
      onAgreed: (calls) => {
        for (let nodeIndex = 0; nodeIndex < hold.set.nodes.length; nodeIndex += 1) {
          calls.onAnswerOf(nodeIndex, (status) => {
            if (status === 'missing') void reseed(hold, nodeIndex, ttlMs);
          });
        }
      },
    },
    remainingValidityMs,
  );
  onDecided?.(outcomes);
}

/**
 * Sets our keys again on a node that answered an extension with `'missing'` (it restarted empty, or
 * evicted them), while the hold is active. Should the hold end before the node answers, its release
 * may have reached the node first: the keys are then removed as a late grant's are.
 */
async function reseed(hold: Hold, nodeIndex: number, ttlMs: number): Promise<void> {
  if (!hold.isActive) return;
  const { nodes, options } = hold.set;
  const node = nodes[nodeIndex] as NodeState;
  hold.written[nodeIndex] = true;
  const reader = new ScriptReader(extendScript, hold.keys, [hold.token, String(ttlMs), '1'], parseExtendReply);
  // Started in the background, and not waited for by `redlock.close()`: it never keeps the process alive.
  const call = new FanOut<ExtendStatus>(hold.set, 'reseed', undefined, 'detached');
  call.send(nodeIndex, nodeTimeoutMsFor(node, options, ttlMs, hold.keys.length), reader);
  const outcome = await call.outcomeOf(nodeIndex);
  if (outcome.status === 'extended') removeLateGrant(hold, nodeIndex);
}
