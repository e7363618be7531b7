// What a semaphore's permits in use or a read-write lock's holders are, by the quorum's view, without seeing
// a token: both kinds' inspect scripts on every node, and the count of what a quorum reports.
import { PermitError, ReadWriteLockError } from '../base/claim-errors.js';
import { describeResources } from '../base/describe.js';
import { closedErrorOf } from '../base/errors.js';
import { describeOutcomes, type NodeOutcome, type ReadWriteInspection, type SemaphoreInspection } from '../base/outcomes.js';
import { FanOut } from '../nodes/fan-out.js';
import { type NodeSet, throwIfMisconfigured } from '../nodes/node-state.js';
import { quorumOf } from '../nodes/quorum.js';
import { type LuaScript, onNoScriptOf, runScript } from '../scripts/lua-script.js';
import { parsePermitInspectReply, permitInspectScript } from '../scripts/permit-inspect.js';
import { parseReadWriteInspectReply, readWriteInspectScript } from '../scripts/read-write-inspect.js';
import type { ReadWriteSettings, SemaphoreSettings } from '../settings/resolve-permits.js';

/** Inspects `semaphore` on the nodes of `set`: see `Semaphore.inspect`. */
export async function inspectPermits(set: NodeSet, semaphore: SemaphoreSettings): Promise<SemaphoreInspection> {
  const { resource } = semaphore;
  const quorum = quorumOf(set.nodes.length);
  const errorOf = (message: string, nodes: NodeOutcome<string>[]) => new PermitError(message, { operation: 'inspect', resource, permits: 0, reason: 'nodes-unreachable', nodes });
  const nodes = await inspectNodes(set, semaphore, 'semaphore', permitInspectScript, parsePermitInspectReply, errorOf);
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

/** Inspects `lock` on the nodes of `set`: see `ReadWriteLock.inspect`. */
export async function inspectReadWrite(set: NodeSet, lock: ReadWriteSettings): Promise<ReadWriteInspection> {
  const { resource } = lock;
  const quorum = quorumOf(set.nodes.length);
  const errorOf = (message: string, nodes: NodeOutcome<string>[]) => new ReadWriteLockError(message, { operation: 'inspect', resource, mode: undefined, reason: 'nodes-unreachable', nodes });
  const nodes = await inspectNodes(set, lock, 'read-write', readWriteInspectScript, (reply) => {
    const entries = parseReadWriteInspectReply(reply);
    return entries === 'free' || entries === 'foreign' ? entries : { entries };
  }, errorOf);
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

/**
 * Runs `script` on every node for `key` and resolves with each node's outcome: what `parse` read of a hash
 * found there, under `status`. Nothing is changed and no token is seen. Rejects with `errorOf` when fewer
 * than a quorum of nodes answered.
 */
async function inspectNodes<S extends string, T extends object>(
  set: NodeSet,
  { resource, key }: ReadWriteSettings,
  status: S,
  script: LuaScript,
  parse: (reply: unknown) => 'free' | 'foreign' | T,
  errorOf: (message: string, nodes: NodeOutcome<string>[]) => Error,
): Promise<(({ readonly nodeIndex: number; readonly status: S } & T) | NodeOutcome<'free' | 'foreign'>)[]> {
  const quorum = quorumOf(set.nodes.length);
  if (set.lifecycle.isClosed) throw closedErrorOf('inspect', [resource]);
  throwIfMisconfigured(set);
  const found: (T | undefined)[] = [];
  // The node timeout is derived from a TTL; inspection has none, so it gets the default of a 10 s lock.
  const calls = new FanOut<S | 'free' | 'foreign'>(set, 'inspect').sendToEveryNode(10_000, 1, async (adapter, call, nodeIndex) => {
    const reply = parse(await runScript(adapter, script, [key], [], onNoScriptOf(call, nodeIndex)));
    if (reply === 'free' || reply === 'foreign') return reply;
    found[nodeIndex] = reply;
    return status;
  });
  const outcomes = await calls.allSettled();
  // The first contact with the nodes may have just found two of them to be one server.
  throwIfMisconfigured(set);
  const answered = outcomes.filter((outcome) => outcome.status !== 'timeout' && outcome.status !== 'error').length;
  if (answered < quorum) throw errorOf(`Could not inspect ${describeResources([resource])}: ${describeOutcomes(outcomes)}, quorum is ${quorum}`, outcomes);
  return outcomes.map((outcome) => {
    const there = found[outcome.nodeIndex];
    return outcome.status === status && there !== undefined ? { nodeIndex: outcome.nodeIndex, status, ...there } : (outcome as NodeOutcome<'free' | 'foreign'>);
  });
}
