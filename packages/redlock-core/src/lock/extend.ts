// Extending a hold on the nodes: the extend script on every node, decided by a quorum with validity left,
// and re-seeding nodes that lost our keys or entries while a quorum still holds them, for every kind of hold.
import { unrefTimer, validityMs } from '../base/clock.js';
import { LockExtendError, LockLostError } from '../base/errors.js';
import { describeOutcomes, type NodeOutcome, outcomesSoFar, type PendingNodeOutcome } from '../base/outcomes.js';
import { traceExtend } from '../base/tracing.js';
import { FanOut } from '../nodes/fan-out.js';
import type { NodeCallRun } from '../nodes/node-call.js';
import { nodeTimeoutMsFor } from '../nodes/node-latency.js';
import type { NodeState } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { extendArgsOf, type ExtendStatus, extendScript, parseExtendReply } from '../scripts/extend.js';
import { ScriptReader } from '../scripts/lua-script.js';
import type { Hold } from './hold.js';
import { removeLateGrant } from './release.js';

/**
 * `lock.extend()`: {@link extendHold} of a lock, traced on `redlock-core.extend`, and counted among the
 * hold's extensions in flight while its calls run (see `removeLateGrant`). Rejects with a {@link LockExtendError}.
 */
export async function extendTraced(
  hold: Hold,
  resources: readonly string[],
  ttlMs: number,
  remainingValidityMs: () => number,
  fencingToken: number | undefined,
): Promise<void> {
  const nodeCount = hold.set.nodes.length;
  const extension = traceExtend({ resources, holdId: hold.id, ttlMs, quorum: quorumOf(nodeCount), nodeCount }, async () => {
    const nodes = await extendHold(hold, ttlMs, lockExtensionOf(hold, ttlMs, fencingToken), remainingValidityMs);
    return { remainingValidityMs: remainingValidityMs(), nodes };
  });
  const inFlight = (hold.extensionsInFlight ??= new Set());
  inFlight.add(extension);
  await extension.finally(() => inFlight.delete(extension));
}

/** Why an extension failed, for the error of the handle that asked: see {@link extendHold}. */
export interface ExtensionFailure {
  /** `'not-held'`: released meanwhile, or no quorum holds our token; `'no-validity'`: agreed too late; else too few answered. */
  readonly reason: 'not-held' | 'no-validity' | 'nodes-unreachable';
  /** The end of the error's message, after `Could not extend …: `. */
  readonly why: string;
  /** Every node's outcome. */
  readonly nodes: NodeOutcome<ExtendStatus>[];
}

/** How a kind of hold extends: its calls, its re-seeding, and its errors; each answers as the lock's extend script does. */
export interface HoldExtension {
  /** What each node runs: the lock's extend script, or a claim's over its fields in one hash. */
  readonly run: NodeCallRun<ExtendStatus>;
  /** What a node that answered `'missing'` runs once a quorum agreed: the same script, re-seeding where that is safe. */
  readonly reseedRun: NodeCallRun<ExtendStatus>;
  /** Node `nodeIndex` holds ours again after a re-seed, maybe once the hold had ended: removes them then, as a late grant's. */
  settleReseed(nodeIndex: number): void;
  readonly keyCount: number;
  /** The status of a node that extended. */
  readonly yes: ExtendStatus;
  /** The error an extension that failed rejects with. */
  errorOf(failure: ExtensionFailure): Error;
  /** Its `why` when the hold was released while the extension ran: `the lock was released meanwhile`. */
  readonly releasedWhy: string;
  /** What the hold's signal aborts with when no quorum holds our token any more, caused by `error`. */
  lostErrorOf(error: Error): LockLostError;
}

/**
 * Extends `hold` to `ttlMs` on every node, as `extension` says: the one rule for every kind of hold.
 * Resolves with the outcomes known at the decision once a quorum agreed with validity left (as the
 * handle's `remainingValidityMs()` reads it then); nodes that answer `'missing'` are then re-seeded.
 * Otherwise rejects, once every node reported, with `extension.errorOf(…)` (or a node's configuration
 * error), marking the hold lost when no quorum holds our token any more.
 */
export async function extendHold(
  hold: Hold,
  ttlMs: number,
  extension: HoldExtension,
  remainingValidityMs: () => number,
): Promise<readonly (NodeOutcome<ExtendStatus> | PendingNodeOutcome)[]> {
  const { options, nodes, servers } = hold.set;
  const { clock, driftFactor } = options;
  const start = clock.now();
  const sequence = hold.beginExtension(start, clock.wallNow(), ttlMs);
  const quorum = quorumOf(nodes.length);
  // No call outlives the hold it would extend: a node that has not answered by then cannot keep it. A hold
  // taken over by its token (`adopt()`) has no validity of ours yet: its calls are bounded, as an
  // acquisition's, by the node timeouts alone.
  const endsBy = hold.validUntil > start ? hold.validUntil : Infinity;
  const calls = new FanOut<ExtendStatus>(hold.set, 'extend', extension.yes).endingBy(endsBy).sendToEveryNode(ttlMs, extension.keyCount, extension.run, start);
  const hasQuorum = await calls.decided();
  const elapsedMs = clock.now() - start;
  // Undecided until the calls still out were cut at the validity's end.
  const isCutAtEnd = calls.wasCut;
  const validity = validityMs({ ttlMs, elapsedMs, driftFactor });
  const canApply = hasQuorum && validity > 0 && !hold.isReleased && servers.configurationError === undefined;
  if (canApply && hold.applyExtension(sequence, ttlMs, start + elapsedMs + ttlMs, outcomesSoFar(calls.outcomes))) {
    // Nodes that lost our keys get them back in the background: the validity was decided with the quorum,
    // and waiting for a slow node would eat it.
    for (let nodeIndex = 0; nodeIndex < nodes.length; nodeIndex += 1) {
      calls.onAnswerOf(nodeIndex, (answer) => {
        if (answer === 'missing') reseed(hold, nodeIndex, ttlMs, extension);
      });
    }
    // An older extension that settled after a newer one applied did not set the validity.
    if (remainingValidityMs() > 0) return outcomesSoFar(calls.outcomes);
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
  if (hasQuorum) {
    // The signal told that the validity ran out meanwhile (`hasRunOut`), or the extension took too long.
    const why = hold.hasRunOut ? 'its validity ran out before a quorum agreed' : `no validity left after ${Math.round(elapsedMs)} ms`;
    throw extension.errorOf({ reason: 'no-validity', why, nodes: outcomes });
  }
  if (isCutAtEnd) {
    const why = `its validity ended before a quorum agreed, after ${Math.round(elapsedMs)} ms (${describeOutcomes(outcomes)}, quorum is ${quorum})`;
    throw extension.errorOf({ reason: 'no-validity', why, nodes: outcomes });
  }
  throw extension.errorOf({ reason: 'nodes-unreachable', why: `${describeOutcomes(outcomes)}, quorum is ${quorum}`, nodes: outcomes });
}

/** Reads an extend script's reply (a reader's second argument is its node, not the script's name). */
const readExtendReply = (reply: unknown): ExtendStatus => parseExtendReply(reply);

/**
 * How a lock's hold extends: the extend script over its keys, and the lock's errors. A labelled lock's
 * extension keeps (or writes) its label too, and a fenced lock's raises its fencing counters to its token
 * where they are lower or lost (a node restarted empty), as it sets its keys again there.
 */
export function lockExtensionOf(hold: Hold, ttlMs: number, fencingToken: number | undefined): HoldExtension {
  const { label, token } = hold;
  const { keys, args, reseedArgs } = extendArgsOf(hold.keys, token, ttlMs, { fencingToken, label });
  return {
    run: new ScriptReader(extendScript, keys, args, readExtendReply),
    reseedRun: new ScriptReader(extendScript, keys, reseedArgs, readExtendReply),
    settleReseed: (nodeIndex) => removeLateGrant(hold, nodeIndex),
    keyCount: hold.keys.length,
    yes: 'extended',
    errorOf: (failure) =>
      new LockExtendError(`Could not extend ${hold.describe()}: ${failure.why}`, { resources: hold.resources, nodes: failure.nodes, isLost: failure.reason === 'not-held' }),
    releasedWhy: 'the lock was released meanwhile',
    lostErrorOf: (error) => new LockLostError(`Lost the lock on ${hold.describe()}: a quorum of nodes no longer holds our token`, { resources: hold.resources, cause: error }),
  };
}

/**
 * Sets ours again on node `nodeIndex`, which answered an extension with `'missing'`, while the hold is
 * active; calls `onOutcome` with the node's outcome. Should the hold end before the node answers (even
 * after a timeout), its release may have reached the node first: what the re-seed set is removed then
 * (`settleReseed`).
 */
function reseed(hold: Hold, nodeIndex: number, ttlMs: number, extension: HoldExtension, onOutcome?: (outcome: NodeOutcome<ExtendStatus>) => void): void {
  if (!hold.isActive) return;
  const { nodes, options } = hold.set;
  const node = nodes[nodeIndex] as NodeState;
  hold.written[nodeIndex] = true;
  // Started in the background, and not waited for by `redlock.close()`: it never keeps the process alive.
  const call = new FanOut<ExtendStatus>(hold.set, 'reseed', undefined, 'detached').endingBy(hold.validUntil);
  call.send(nodeIndex, nodeTimeoutMsFor(node, options, ttlMs, extension.keyCount), extension.reseedRun);
  call.onAnswerOf(nodeIndex, (answer) => {
    if (answer === 'missing' || answer === 'extended') extension.settleReseed(nodeIndex);
  });
  if (onOutcome !== undefined) call.onOutcomeOf(nodeIndex, onOutcome);
}

/** How long a hold waits before it first asks a node that refused it again, in milliseconds; each next pause is twice the last. */
export const FILL_IN_FIRST_PAUSE_MS = 5;

/**
 * Takes node `nodeIndex`, which refused the hold at its acquisition (a rival's racing attempt was there), as
 * soon as it is free, with the re-seed of `extensionOf(ttlMs)` for the TTL the keys have left, so they
 * expire with the others'. Until then the hold may stand on a bare quorum, lost with any one node of it (a
 * restart in a rolling restart); the first extension, half a TTL later, was the first to re-seed there.
 * Asks after {@link FILL_IN_FIRST_PAUSE_MS}, then after pauses twice as long each time, while the hold is
 * active, until half its TTL has gone (the extensions re-seed from then on) or the node holds ours. A
 * re-seed writes only where the node has nothing that excludes us, so it is safe without a vote: the hold's
 * quorum agreed and its validity is not over. Its timers are unref'd.
 */
export function fillIn(hold: Hold, nodeIndex: number, extensionOf: (ttlMs: number) => HoldExtension): void {
  const { clock } = hold.set.options;
  const giveUpAt = clock.now() + hold.ttlMs / 2;
  const ask = (pauseMs: number): void => {
    const timer = clock.setTimeout(() => {
      const ttlMs = Math.ceil(hold.keysExpireAt - clock.now());
      if (!hold.isActive || hold.set.lifecycle.isClosed || ttlMs <= 0) return;
      reseed(hold, nodeIndex, ttlMs, extensionOf(ttlMs), (outcome) => {
        if (outcome.status === 'missing' || outcome.status === 'extended') return;
        if (clock.now() + 2 * pauseMs < giveUpAt) ask(2 * pauseMs);
      });
    }, pauseMs);
    unrefTimer(timer);
  };
  ask(FILL_IN_FIRST_PAUSE_MS);
}
