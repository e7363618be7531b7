// A read-write lock's holders and waiting writer, by the quorum's view, without seeing a token.
import { ReadWriteLockError } from '../base/claim-errors.js';
import { describeResources } from '../base/describe.js';
import { closedErrorOf } from '../base/errors.js';
import { describeOutcomes, type ReadWriteInspection, type ReadWriteInspectNodeOutcome } from '../base/outcomes.js';
import { FanOut } from '../nodes/fan-out.js';
import { type NodeSet, throwIfMisconfigured } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { onNoScriptOf, runScript } from '../scripts/lua-script.js';
import { parseReadWriteInspectReply, readWriteInspectScript, type ReadWriteEntry } from '../scripts/read-write-inspect.js';
import type { ReadWriteSettings } from '../settings/resolve-permits.js';

/** Inspects `lock` on the nodes of `set`: see `ReadWriteLock.inspect`. */
export async function inspectReadWrite(set: NodeSet, lock: ReadWriteSettings): Promise<ReadWriteInspection> {
  const { resource, key } = lock;
  const quorum = quorumOf(set.nodes.length);
  if (set.lifecycle.isClosed) throw closedErrorOf('inspect', [resource]);
  throwIfMisconfigured(set);
  const found: (readonly ReadWriteEntry[] | undefined)[] = [];
  // The node timeout is derived from a TTL; inspection has none, so it gets the default of a 10 s lock.
  const calls = new FanOut<'read-write' | 'free' | 'foreign'>(set, 'inspect').sendToEveryNode(10_000, 1, async (adapter, call, nodeIndex) => {
    const reply = parseReadWriteInspectReply(await runScript(adapter, readWriteInspectScript, [key], [], onNoScriptOf(call, nodeIndex)));
    if (reply === 'free' || reply === 'foreign') return reply;
    found[nodeIndex] = reply;
    return 'read-write';
  });
  const outcomes = await calls.allSettled();
  // The first contact with the nodes may have just found two of them to be one server.
  throwIfMisconfigured(set);
  const nodes = outcomes.map((outcome): ReadWriteInspectNodeOutcome => {
    const entries = found[outcome.nodeIndex];
    return outcome.status === 'read-write' && entries !== undefined ? { nodeIndex: outcome.nodeIndex, status: 'read-write', entries } : (outcome as ReadWriteInspectNodeOutcome);
  });
  const answered = nodes.filter((node) => node.status !== 'timeout' && node.status !== 'error').length;
  if (answered < quorum) {
    throw new ReadWriteLockError(`Could not inspect ${describeResources([resource])}: ${describeOutcomes(outcomes)}, quorum is ${quorum}`, {
      operation: 'inspect',
      resource,
      mode: undefined,
      reason: 'nodes-unreachable',
      nodes: outcomes,
    });
  }
  // A holder holds the lock when a quorum of nodes reports its entry; a writer's intent keeps new readers
  // out when it lives on more nodes than a reader's quorum can do without.
  const nodesByEntry = new Map<string, number>();
  for (const node of nodes) {
    if (node.status !== 'read-write') continue;
    for (const { kind, holder } of node.entries) nodesByEntry.set(`${kind}:${holder}`, (nodesByEntry.get(`${kind}:${holder}`) ?? 0) + 1);
  }
  const entries = [...nodesByEntry];
  const held = entries.filter(([, count]) => count >= quorum).map(([entry]) => entry);
  const isWriterWaiting = entries.some(([entry, count]) => entry.startsWith('i:') && count > nodes.length - quorum);
  return { resource, isWriteLocked: held.some((entry) => entry.startsWith('w:')), readers: held.filter((entry) => entry.startsWith('r:')).length, isWriterWaiting, nodes };
}
