// Extending a hold on the nodes: the extend script on every node, decided by a quorum with validity left,
// and re-seeding nodes that lost our keys while a quorum still holds them.
import { validityMs } from '../base/clock.js';
import { LockExtendError, LockLostError } from '../base/errors.js';
import { countByStatus, describeOutcomes, type ExtendNodeOutcome } from '../base/outcomes.js';
import { traceExtend } from '../base/tracing.js';
import { FanOut } from '../nodes/fan-out.js';
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

/**
 * Extends `hold` to `ttlMs` on every node. Resolves once a quorum agreed with validity left, as
 * `remainingValidityMs()` of the handle reads it then (an older extension that settled after a newer one
 * applied did not set the validity); `onDecided` gets the outcomes known at that decision. Rejects with a
 * {@link LockExtendError} otherwise, marking the hold lost when no quorum holds our token any more.
 */
export async function extendOnEveryNode(
  hold: Hold,
  ttlMs: number,
  remainingValidityMs: () => number,
  onDecided?: (outcomes: readonly (ExtendNodeOutcome | undefined)[]) => void,
): Promise<void> {
  const { set } = hold;
  const { options, nodes, servers } = set;
  const { clock, driftFactor } = options;
  const start = clock.now();
  const sequence = hold.beginExtension(start, clock.wallNow(), ttlMs);
  const quorum = quorumOf(nodes.length);
  const reader = new ScriptReader(extendScript, hold.keys, [hold.token, String(ttlMs), '0'], parseExtendReply);
  const calls = new FanOut<ExtendStatus>(set, 'extend', 'extended').sendToEveryNode(ttlMs, hold.keys.length, reader, start);
  const hasQuorum = await calls.decided();
  const elapsedMs = clock.now() - start;
  const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
  if (
    hasQuorum &&
    validity > 0 &&
    !hold.isReleased &&
    servers.configurationError === undefined &&
    hold.applyExtension(sequence, ttlMs, start + elapsedMs + ttlMs, [...calls.outcomes])
  ) {
    // A quorum still holds the lock, so nodes that lost our keys (restarted empty) may get them back:
    // the lock regains its full margin. In the background: the validity was decided with the quorum,
    // re-seeding only adds holders, and waiting for a slow node would eat the validity just won.
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) {
      calls.onAnswerOf(nodeIndex, (status) => {
        if (status === 'missing') void reseed(hold, nodeIndex, ttlMs);
      });
    }
    // An older extension that settled after a newer one applied did not set the validity.
    if (remainingValidityMs() > 0) {
      onDecided?.([...calls.outcomes]);
      return;
    }
    throw new LockExtendError(`Could not extend ${hold.describe()}: no validity left after ${Math.round(clock.now() - start)} ms`, {
      resources: hold.resources,
      nodes: await calls.allSettled(),
      isLost: false,
    });
  }
  // Failing is not urgent: wait for every node (each bounded by its timeout) to report them all.
  const outcomes = await calls.allSettled();
  if (servers.configurationError !== undefined) throw servers.configurationError;
  const counts = countByStatus(outcomes);
  const isLost = (counts['not-held'] ?? 0) + (counts['missing'] ?? 0) > nodes.length - quorum || hold.isReleased;
  const why = hold.isReleased
    ? 'the lock was released meanwhile'
    : hasQuorum
      ? hold.whyNoValidity(elapsedMs)
      : `${describeOutcomes(outcomes)}, quorum is ${quorum}`;
  const error = new LockExtendError(`Could not extend ${hold.describe()}: ${why}`, { resources: hold.resources, nodes: outcomes, isLost });
  if (isLost && !hold.isReleased) {
    hold.markLost(
      new LockLostError(`Lost the lock on ${hold.describe()}: a quorum of nodes no longer holds our token`, {
        resources: hold.resources,
        cause: error,
      }),
    );
  }
  throw error;
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
