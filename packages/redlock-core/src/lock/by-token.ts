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
 * A hold on the resources `given` with `token`, both checked, that no call of this process acquired: no
 * validity yet, sent everywhere (any node may hold the keys), with no acquisition outcomes.
 */
function holdOf(set: NodeSet, given: string | readonly string[], token: string, ttlMs: number): HoldInit {
  const { resources, keys } = resolveResources(given, set.options.keyPrefix);
  checkToken(token);
  const { clock } = set.options;
  const now = clock.now();
  const written = set.nodes.map(() => true);
  // No attempt acquired it: its extensions' outcomes tell where it is held.
  const nodes: readonly [] = [];
  // `keysExpireAt` is unknown (the keys' own TTL): a failed release is then not sent again in the background.
  return { set, resources, keys, token, ttlMs, validUntil: now, keysExpireAt: now, expiresAt: clock.wallNow(), written, nodes };
}

/**
 * Takes over the lock that `token` holds on `given` (see `Redlock.adopt`): extends it to `ttlMs` on every
 * node, as `lock.extend()` does, after the checks of an acquisition's arguments. `onReleased` is told the
 * keys when the handle's release was decided, as an acquired lock's is.
 */
export async function adoptLock(
  set: NodeSet,
  given: string | readonly string[],
  token: string,
  ttlMs: number,
  onReleased?: (keys: readonly string[]) => void,
): Promise<Lock> {
  const init = { ...holdOf(set, given, token, ttlMs), attempts: 0, fencingToken: undefined };
  checkAcquireTtl(ttlMs, set.nodes, set.options, quorumOf(set.nodes.length), init.keys.length);
  if (set.lifecycle.isClosed) throw closedErrorOf('adopt', init.resources);
  const hold = new Hold(init);
  hold.onReleased = onReleased;
  const { clock } = set.options;
  await extendTraced(hold, init.resources, ttlMs, () => Math.max(0, hold.validUntil - clock.now()), undefined);
  return new Lock(init, hold);
}

/**
 * Deletes the keys of `given` that still hold `token` on every node, as `lock.release()` does (see
 * `Redlock.releaseByToken`). `onReleased` is told the keys once the release was decided.
 */
export async function releaseByToken(
  set: NodeSet,
  given: string | readonly string[],
  token: string,
  onReleased?: (keys: readonly string[]) => void,
): Promise<ReleaseResult> {
  const hold = new Hold(holdOf(set, given, token, UNKNOWN_TTL_MS));
  hold.onReleased = onReleased;
  hold.markReleased();
  return releaseOnEveryNode(hold);
}
