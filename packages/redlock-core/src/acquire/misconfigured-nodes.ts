import { MisconfiguredNodeError } from '../base/errors.js';
import { type NodeError } from '../base/redlock-error.js';
import { describeResources } from '../base/describe.js';
import type { NodeState } from '../nodes/node-state.js';
import type { NodeOutcome } from '../base/outcomes.js';
import { errorMessageOf, NO_PERMISSION_PATTERN } from '../scripts/lua-script.js';
import { warnOnce } from '../base/warnings.js';

type Problem = MisconfiguredNodeError['problem'];

/**
 * Error replies that tell a setup mistake, not an outage, by their code as a word of its own: at the
 * start of the message (ioredis, node-redis), after a prefix (`ReplyError: CROSSSLOT …`), or as redis-rs'
 * error kind, which Valkey GLIDE reports (`CrossSlot: …`). `ASK` and `TRYAGAIN` are left out: they
 * come and go while a slot migrates.
 */
const PROBLEM_PATTERNS: readonly (readonly [RegExp, Problem])[] = [
  [/(?:^|[^A-Za-z0-9_])(?:CROSSSLOT|CrossSlot)(?![A-Za-z0-9_])/, 'cross-slot'],
  [/(?:^|[^A-Za-z0-9_])(?:MOVED|Moved)(?![A-Za-z0-9_])/, 'moved'],
  [NO_PERMISSION_PATTERN, 'no-permission'],
  // Redis 7's words for a command a script runs that the user's ACL denies (the reply is an ERR there).
  [/user executing the script can't run this command/, 'no-permission'],
  [/(?:^|[^A-Za-z0-9_])(?:NOAUTH|WRONGPASS)(?![A-Za-z0-9_])/, 'no-auth'],
];

const ADVICE: Readonly<Record<Problem, string>> = {
  'cross-slot':
    'the node is a Redis Cluster and the keys of one lock must be in one hash slot: give every resource of the lock a common hash tag, e.g. "{orders}:1" and "{orders}:2"',
  moved:
    'the node is one master of a Redis Cluster that does not serve the key\'s slot: reach a cluster through a cluster client, which follows redirections, or use standalone servers',
  'no-permission': "the node's ACL forbids the scripts or the keys: allow EVALSHA, EVAL and the keys to the connection's user",
  'no-auth': 'the connection is not authenticated: fix the client\'s credentials',
};

/** What setup mistake a node's outcome reveals, if it replied with such an error. */
export function misconfigurationOf(outcome: NodeOutcome<string> | undefined): Problem | undefined {
  // The status first: it is all a grant's outcome needs, on every acquisition.
  if (outcome?.status !== 'error' || !('error' in outcome) || outcome.error.isDown) return undefined;
  const message = errorMessageOf(outcome.error.cause);
  return PROBLEM_PATTERNS.find(([pattern]) => pattern.test(message))?.[1];
}

/**
 * Whether any of the outcomes reveals a setup mistake: then no lock may be handed out on the others. A loop
 * rather than `some()` with a closure: it runs for every acquisition.
 */
export function hasMisconfiguredNode(outcomes: readonly (NodeOutcome<string> | undefined)[]): boolean {
  for (const outcome of outcomes) if (misconfigurationOf(outcome) !== undefined) return true;
  return false;
}

/**
 * The error of an acquisition whose attempt met a misconfigured node, or `undefined` if it met none. `what`
 * says what could not be taken (`acquire 1 of 3 permits of "s"`, `take the read lock on "rw"`; by default
 * `acquire "r"`, the lock of `resources`).
 */
export function misconfiguredNodeErrorOf(
  resources: readonly string[],
  outcomes: readonly NodeOutcome<string>[],
  what?: string,
): MisconfiguredNodeError | undefined {
  let problem: Problem | undefined;
  const nodeErrors: NodeError[] = [];
  for (const outcome of outcomes) {
    const found = misconfigurationOf(outcome);
    if (found === undefined || !('error' in outcome)) continue;
    problem ??= found;
    nodeErrors.push(outcome.error);
  }
  if (problem === undefined) return undefined;
  const nodes = nodeErrors.length === 1 ? `node ${nodeErrors[0]?.nodeIndex}` : `nodes ${nodeErrors.map((error) => error.nodeIndex).join(', ')}`;
  const reply = (nodeErrors[0]?.cause as Error).message;
  return new MisconfiguredNodeError(
    // The default worded only here: every failed attempt asks, and nearly none meets a misconfigured node.
    `Could not ${what ?? `acquire ${describeResources(resources)}`}: ${nodes} replied "${reply.length > 100 ? `${reply.slice(0, 97)}...` : reply}", so ${ADVICE[problem]}`,
    { resources, problem, nodeErrors },
  );
}

/**
 * Warns once per node (a process warning, code `REDLOCK_MISCONFIGURED_NODE`) when `outcome` reveals a
 * setup mistake that came too late to fail the acquisition: a quorum of the other nodes had already
 * granted the hold, or refused it and so ended a single try. `whatOf` words the hold as
 * {@link misconfiguredNodeErrorOf}'s `what` does, asked only when there is a mistake to tell (nearly every
 * outcome is a plain answer); a semaphore's or a read-write lock's is granted as "it".
 */
export function warnIfMisconfigured(
  resources: readonly string[],
  node: NodeState,
  outcome: NodeOutcome<string>,
  after: 'granted' | 'refused' = 'granted',
  whatOf?: () => string,
): void {
  if (misconfigurationOf(outcome) === undefined) return;
  const error = misconfiguredNodeErrorOf(resources, [outcome], whatOf?.()) as MisconfiguredNodeError;
  const hold = whatOf === undefined ? 'the lock' : 'it';
  const why =
    after === 'granted'
      ? `It answered after a quorum of the other nodes had granted ${hold}, which stands on them`
      : 'It answered after a quorum of the other nodes had refused the lock (held by another owner), which ended the single try';
  warnOnce(node.adapter, 'REDLOCK_MISCONFIGURED_NODE', `${error.message}. ${why}; until the setup is fixed, this node counts against every such lock`);
}
