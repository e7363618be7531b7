// Fake nodes with one behaviour each, for unit tests: granting, refusing, failing, denied scripts, slow,
// NOSCRIPT once, hanging; and what they hold.
import { type Clock, SYSTEM_CLOCK } from '../base/clock.js';
import { connectionRefused, FakeNode, KNOWN_SCRIPTS } from './fake-adapter.js';
import { OTHER_OWNER_TOKEN } from './fake-keyspace.js';

/** A healthy node that has every script cached: it grants any lock that nobody else holds. */
export function grantingNode(clock: Clock = SYSTEM_CLOCK): FakeNode {
  const node = new FakeNode(clock);
  for (const script of KNOWN_SCRIPTS) node.keyspace.scripts.add(script.sha1);
  return node;
}

/** A healthy node on which another owner holds every key, so it refuses every acquisition. */
export function refusingNode(clock: Clock = SYSTEM_CLOCK): FakeNode {
  const node = grantingNode(clock);
  node.keyspace.isHeldByAnotherOwner = true;
  return node;
}

/** A node that replies to every command with `error` (a refused connection by default). */
export function failingNode(clock: Clock = SYSTEM_CLOCK, error: Error = connectionRefused()): FakeNode {
  return Object.assign(grantingNode(clock), { errorReply: error });
}

/**
 * A node whose connection's user may not run scripts (its ACL denies EVALSHA and EVAL): every script is
 * refused with `NOPERM`, while a plain SET still runs, as on a Redis user made with `-eval -evalsha`.
 */
export function scriptDeniedNode(clock: Clock = SYSTEM_CLOCK): FakeNode {
  return Object.assign(grantingNode(clock), { deniedCommands: ['evalsha', 'eval'] as const });
}

/** A node whose writes take effect at once but whose replies arrive `ms` later. */
export function slowNode(clock: Clock, ms: number): FakeNode {
  return Object.assign(grantingNode(clock), { latencyMs: ms });
}

/** A node with an empty script cache: the first EVALSHA fails with NOSCRIPT, EVAL then caches it. */
export function noScriptOnceNode(clock: Clock = SYSTEM_CLOCK): FakeNode {
  return new FakeNode(clock);
}

/** A node that never answers until `resume()` is called. */
export function hangingNode(clock: Clock = SYSTEM_CLOCK): FakeNode {
  const node = grantingNode(clock);
  node.hang();
  return node;
}

/** `count` granting nodes. */
export function grantingNodes(clock: Clock, count: number): FakeNode[] {
  return Array.from({ length: count }, () => grantingNode(clock));
}

/** The live keys on `node`. */
export function keysOf(node: FakeNode): string[] {
  return node.keyspace.keys();
}

/** Whether `key` is live on `node` as a string, optionally holding `token`. */
export function hasKey(node: FakeNode, key: string, token?: string): boolean {
  if (node.keyspace.typeOf(key) !== 'string') return false;
  const value = node.keyspace.get(key);
  return value !== undefined && value !== OTHER_OWNER_TOKEN && (token === undefined || value === token);
}

/** The nodes on which any key holds `token`: after a failed acquisition this must be empty. */
export function nodesHoldingToken(nodes: readonly FakeNode[], token: string): number[] {
  return nodes.flatMap((node, index) =>
    keysOf(node).some((key) => node.keyspace.typeOf(key) === 'string' && node.keyspace.get(key) === token) ? [index] : [],
  );
}
