import { describeResources } from '../base/describe.js';
import { closedErrorOf, LockInspectError } from '../base/errors.js';
import { describeOutcomes, type InspectNodeOutcome, type LockInspection } from '../base/outcomes.js';
import { FanOut } from '../nodes/fan-out.js';
import { type NodeSet, throwIfMisconfigured } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { inspectScript, parseInspectReply } from '../scripts/inspect.js';
import { labelKeyOf } from '../scripts/label.js';
import { onNoScriptOf, runScript } from '../scripts/lua-script.js';
import { resolveResources } from '../settings/resolve-resources.js';

/** Whether `resource` is locked on the nodes of `set`, and for how long, by the quorum's view, without seeing a token (see `Redlock.inspect`). */
export async function inspectResource(set: NodeSet, resource: string): Promise<LockInspection> {
  const quorum = quorumOf(set.nodes.length);
  const { resources, keys } = resolveResources(typeof resource === 'string' ? resource : [resource], set.options.keyPrefix);
  const name = resources[0] as string;
  const remaining: number[] = [];
  /** By node, its holder's label and the fencing token it was written with: `<token>:<label>`, `:<label>` without one. */
  const labels: string[] = [];
  if (set.lifecycle.isClosed) throw closedErrorOf('inspect', resources);
  throwIfMisconfigured(set);
  // The node timeout is derived from a TTL; inspection has none, so it gets the default of a 10 s lock.
  const calls = new FanOut<'locked' | 'free' | 'foreign'>(set, 'inspect').sendToEveryNode(10_000, keys.length, async (adapter, call, nodeIndex) => {
    const reply = parseInspectReply(await runScript(adapter, inspectScript, [...keys, labelKeyOf(keys[0] as string)], [], onNoScriptOf(call, nodeIndex)));
    if (reply.remaining === 'free' || reply.remaining === 'foreign') return reply.remaining;
    remaining[nodeIndex] = reply.remaining;
    labels[nodeIndex] = reply.label === '' ? '' : `${reply.fencingToken ?? ''}:${reply.label}`;
    return 'locked';
  });
  const outcomes = await calls.allSettled();
  // The first contact with the nodes may have just found two of them to be one server.
  throwIfMisconfigured(set);
  const inspected = outcomes.map((outcome): InspectNodeOutcome =>
    outcome.status === 'locked' ? { ...outcome, status: 'locked', remainingMs: remaining[outcome.nodeIndex] as number } : (outcome as InspectNodeOutcome),
  );
  const answered = inspected.filter((node) => node.status !== 'timeout' && node.status !== 'error').length;
  if (answered < quorum) {
    throw new LockInspectError(
      `Could not inspect ${describeResources(resources)}: ${describeOutcomes(outcomes)}, quorum is ${quorum}`,
      { resource: name, nodes: inspected },
    );
  }
  const lockedMs = inspected.flatMap((node) => (node.status === 'locked' ? [node.remainingMs] : [])).sort((a, b) => b - a);
  const remainingMs = lockedMs[quorum - 1] ?? 0;
  const fencedLabel = remainingMs > 0 ? quorumLabelOf(labels, quorum) : undefined;
  const separator = fencedLabel?.indexOf(':') ?? -1;
  return {
    resource: name,
    isLocked: remainingMs > 0,
    remainingMs,
    label: fencedLabel?.slice(separator + 1),
    labelFencingToken: separator > 0 ? Number(fencedLabel?.slice(0, separator)) : undefined,
    nodes: inspected,
  };
}

/** The label (with its fencing token) that at least `quorum` nodes report for the lock they hold, if any: each node reports only its holder's. */
function quorumLabelOf(labels: readonly (string | undefined)[], quorum: number): string | undefined {
  const counts = new Map<string, number>();
  for (const label of labels) {
    if (label === undefined || label === '') continue;
    const count = (counts.get(label) ?? 0) + 1;
    if (count >= quorum) return label;
    counts.set(label, count);
  }
  return undefined;
}
