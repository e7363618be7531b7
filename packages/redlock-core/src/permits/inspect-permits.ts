// A semaphore's permits in use and its holders, by the quorum's view, without seeing a token.
import { describeResources } from '../base/describe.js';
import { PermitError } from '../base/claim-errors.js';
import { closedErrorOf } from '../base/errors.js';
import { describeOutcomes, type SemaphoreInspection, type SemaphoreInspectNodeOutcome } from '../base/outcomes.js';
import { FanOut } from '../nodes/fan-out.js';
import { type NodeSet, throwIfMisconfigured } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { onNoScriptOf, runScript } from '../scripts/lua-script.js';
import { parsePermitInspectReply, permitInspectScript, type TakenSlot } from '../scripts/permit-inspect.js';
import type { SemaphoreSettings } from '../settings/resolve-permits.js';

/** Inspects `semaphore` on the nodes of `set`: see `Semaphore.inspect`. */
export async function inspectPermits(set: NodeSet, semaphore: SemaphoreSettings): Promise<SemaphoreInspection> {
  const { resource, key } = semaphore;
  const quorum = quorumOf(set.nodes.length);
  if (set.lifecycle.isClosed) throw closedErrorOf('inspect', [resource]);
  throwIfMisconfigured(set);
  const found: ({ readonly limit: number; readonly slots: readonly TakenSlot[] } | undefined)[] = [];
  // The node timeout is derived from a TTL; inspection has none, so it gets the default of a 10 s lock.
  const calls = new FanOut<'semaphore' | 'free' | 'foreign'>(set, 'inspect').sendToEveryNode(10_000, 1, async (adapter, call, nodeIndex) => {
    const reply = parsePermitInspectReply(await runScript(adapter, permitInspectScript, [key], [], onNoScriptOf(call, nodeIndex)));
    if (reply === 'free' || reply === 'foreign') return reply;
    found[nodeIndex] = reply;
    return 'semaphore';
  });
  const outcomes = await calls.allSettled();
  // The first contact with the nodes may have just found two of them to be one server.
  throwIfMisconfigured(set);
  const nodes = outcomes.map((outcome): SemaphoreInspectNodeOutcome => {
    const semaphoreThere = found[outcome.nodeIndex];
    return outcome.status === 'semaphore' && semaphoreThere !== undefined ? { nodeIndex: outcome.nodeIndex, status: 'semaphore', ...semaphoreThere } : (outcome as SemaphoreInspectNodeOutcome);
  });
  const answered = nodes.filter((node) => node.status !== 'timeout' && node.status !== 'error').length;
  if (answered < quorum) {
    throw new PermitError(`Could not inspect ${describeResources([resource])}: ${describeOutcomes(outcomes)}, quorum is ${quorum}`, {
      operation: 'inspect',
      resource,
      permits: 0,
      reason: 'nodes-unreachable',
      nodes: outcomes,
    });
  }
  // A slot is in use when one holder holds it on a quorum of nodes.
  const nodesBySlotHolder = new Map<string, number>();
  const limits = new Map<number, number>();
  for (const node of nodes) {
    if (node.status !== 'semaphore') continue;
    limits.set(node.limit, (limits.get(node.limit) ?? 0) + 1);
    for (const { slot, holder } of node.slots) nodesBySlotHolder.set(`${slot}:${holder}`, (nodesBySlotHolder.get(`${slot}:${holder}`) ?? 0) + 1);
  }
  const inUse = [...nodesBySlotHolder].filter(([, count]) => count >= quorum).map(([slotHolder]) => slotHolder);
  const holders = new Set(inUse.map((slotHolder) => slotHolder.slice(slotHolder.indexOf(':') + 1)));
  const limit = [...limits].sort(([, a], [, b]) => b - a)[0]?.[0];
  return { resource, limit, permitsInUse: inUse.length, holders: holders.size, nodes };
}
