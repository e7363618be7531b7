// A lock taken elsewhere, known by its resources and token: taken over by extending it (`redlock.adopt()`),
// or released (`redlock.releaseByToken()`), e.g. when a scheduler acquires and a worker finishes the job.
import { closedErrorOf } from '../base/errors.js';
import type { ReleaseResult } from '../base/outcomes.js';
import type { NodeSet } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { resolveResources } from '../settings/resolve-resources.js';
import { checkAcquireTtl } from '../settings/ttl.js';
import { extendTraced } from './extend.js';
import { Hold, type HoldInit } from './hold.js';
import { Lock } from './lock.js';
import { releaseOnEveryNode } from './release.js';

/** The longest token accepted, in characters: far above any token this library or node-redlock makes. */
export const MAX_TOKEN_LENGTH = 1_024;

/**
 * The TTL a release by token bounds its node timeouts with, not knowing the lock's own: a 10 s lock's,
 * 50 ms to 1 s before a node's first answer, then following its round trip as for every call.
 */
const UNKNOWN_TTL_MS = 10_000;

/** Checks a token given back by a caller: a non-empty string of at most {@link MAX_TOKEN_LENGTH} characters. */
function checkToken(token: unknown): asserts token is string {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    const got = typeof token === 'string' ? `a string of ${token.length} characters` : `\`${typeof token}\``;
    throw new TypeError(`Expected \`token\` to be the token of a lock (\`lock.token\`), a non-empty string of at most ${MAX_TOKEN_LENGTH} characters, got ${got}`);
  }
}

/**
 * A hold on `keys` with `token` that no call of this process acquired: no validity yet, sent everywhere
 * (any node may hold the keys), with no acquisition outcomes.
 */
function holdOf(set: NodeSet, resources: readonly string[], keys: readonly string[], token: string, ttlMs: number): HoldInit {
  const { clock } = set.options;
  const now = clock.now();
  return {
    set,
    resources,
    keys,
    token,
    ttlMs,
    validUntil: now,
    // Unknown: the keys' own TTL. A failed release is then not sent again in the background.
    keysExpireAt: now,
    expiresAt: clock.wallNow(),
    written: set.nodes.map(() => true),
    nodes: set.nodes.map(() => undefined),
  };
}

/**
 * Takes over the lock that `token` holds on `resources`: extends it to `ttlMs` on every node, which succeeds
 * only where the keys still hold `token`, and resolves with a handle whose validity runs from that
 * extension, as `lock.extend()`'s does. Rejects as `lock.extend()` does, with `isLost` when no quorum holds
 * the token; with a `TypeError` or `RangeError` for bad arguments (`ttlMs` checked as an acquisition's), or a
 * `RedlockClosedError`, before any node is called. `onReleased` is told the keys when the handle's release
 * was decided, as an acquired lock's is (it wakes the local queue of the same resources).
 */
export async function adoptLock(
  set: NodeSet,
  given: string | readonly string[],
  token: string,
  ttlMs: number,
  onReleased?: (keys: readonly string[]) => void,
): Promise<Lock> {
  const { resources, keys } = resolveResources(given, set.options.keyPrefix);
  checkToken(token);
  checkAcquireTtl(ttlMs, set.nodes, set.options, quorumOf(set.nodes.length), keys.length);
  if (set.lifecycle.isClosed) throw closedErrorOf('adopt', resources);
  const init = { ...holdOf(set, resources, keys, token, ttlMs), attempts: 0, fencingToken: undefined };
  const hold = new Hold(init);
  hold.onReleased = onReleased;
  const { clock } = set.options;
  await extendTraced(hold, resources, ttlMs, () => Math.max(0, hold.validUntil - clock.now()));
  return new Lock(init, hold);
}

/**
 * Deletes the keys of `resources` that still hold `token` on every node (compare-and-delete), announced to
 * waiters, as `lock.release()` does; resolves once a quorum answered, `releasedCount` 0 when no node held
 * the token. Rejects with a `TypeError` or `RangeError` for bad arguments, before any node is called.
 * `onReleased` is told the keys once the release was decided (it wakes the local queue of the same resources).
 */
export async function releaseByToken(
  set: NodeSet,
  given: string | readonly string[],
  token: string,
  onReleased?: (keys: readonly string[]) => void,
): Promise<ReleaseResult> {
  const { resources, keys } = resolveResources(given, set.options.keyPrefix);
  checkToken(token);
  const hold = new Hold(holdOf(set, resources, keys, token, UNKNOWN_TTL_MS));
  hold.onReleased = onReleased;
  hold.markReleased();
  return releaseOnEveryNode(hold);
}
