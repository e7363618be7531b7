// The nodes given to the `Redlock` constructor, checked: adapters (not raw clients), each distinct, each
// over a client of its own, with optional members of the right kinds.
import type { RedisAdapter } from '../base/adapter.js';
import { checkDurationMs, formatValue } from './value-checks.js';

/** A node after validation: its adapter and its own timeout, if any. */
export interface ResolvedNode { readonly adapter: RedisAdapter; readonly timeoutMs: number | undefined }

/** Validates the constructor's arguments; throws `TypeError` or `RangeError` naming the bad one. */
export function resolveNodes(nodes: unknown): ResolvedNode[] {
  if (!Array.isArray(nodes)) {
    throw new TypeError(`Expected \`nodes\` to be an array of adapters, got ${formatValue(nodes)}`);
  }
  if (nodes.length === 0) throw new RangeError('Expected `nodes` to hold at least one node, got an empty array');
  /** By node index: the client each adapter wraps, if it says. */
  const clients: (object | undefined)[] = [];
  const resolved = nodes.map((node: unknown, index): ResolvedNode => {
    checkNotRedisClient(`nodes[${index}]`, node);
    if (isAdapter(node)) {
      clients.push(checkOptionalMembers(`nodes[${index}]`, node));
      return { adapter: node, timeoutMs: undefined };
    }
    // Read each property once: a getter must not answer one value to the check and another to the use.
    const { adapter, timeoutMs } = typeof node === 'object' && node !== null ? (node as { readonly adapter?: unknown; readonly timeoutMs?: unknown }) : {};
    checkNotRedisClient(`nodes[${index}].adapter`, adapter);
    if (isAdapter(adapter)) {
      clients.push(checkOptionalMembers(`nodes[${index}].adapter`, adapter));
      if (timeoutMs !== undefined) checkDurationMs(`nodes[${index}].timeoutMs`, timeoutMs, 1);
      return { adapter, timeoutMs };
    }
    throw new TypeError(
      `Expected \`nodes[${index}]\` to be an adapter with \`evalsha\` and \`eval\` methods, or \`{ adapter }\`, got ${formatValue(node)}`,
    );
  });
  // The same adapter twice would count one node's vote twice and fake a quorum; so would two adapters
  // over one client: one server, two votes.
  const adapters = resolved.map((node) => node.adapter);
  adapters.forEach((adapter, index) => {
    const first = adapters.indexOf(adapter);
    if (first !== index) throw new RangeError(`Expected every node to be a distinct adapter, got the same one at \`nodes[${first}]\` and \`nodes[${index}]\``);
  });
  clients.forEach((client, index) => {
    const first = client === undefined ? index : clients.indexOf(client);
    if (first !== index) {
      throw new TypeError(`Expected every node to wrap a client of its own, got the same client at \`nodes[${first}]\` and \`nodes[${index}]\`, which would count one server twice`);
    }
  });
  return resolved;
}

/**
 * Throws a `TypeError` if `value` looks like a Redis client instead of an adapter: raw clients often have `evalsha` and
 * `eval` methods of their own, with other signatures, so every call would fail on a node that is in fact reachable. The
 * signs are members an adapter has no use for: ioredis `Redis` and `Cluster` and node-redis clients (`createClient`,
 * `createCluster`, and v3) send any command with `sendCommand` (v3: `send_command`) and open another connection with
 * `duplicate`; Valkey GLIDE clients have `customCommand` and `invokeScript`.
 */
function checkNotRedisClient(name: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const hasMethod = (method: string): boolean => typeof Reflect.get(value, method) === 'function';
  const isClient =
    ((hasMethod('sendCommand') || hasMethod('send_command')) && hasMethod('duplicate')) ||
    (hasMethod('customCommand') && hasMethod('invokeScript'));
  if (!isClient) return;
  // ioredis alone has `defineCommand`; the core knows no other adapter package to name.
  const advice = hasMethod('defineCommand')
    ? 'an ioredis client: wrap it in one, e.g. `new IoredisAdapter(client)` from redlock-ioredis-adapter'
    : 'a Redis client: wrap it in an object with `evalsha` and `eval` methods (see "Writing an adapter" in the redlock-core README)';
  throw new TypeError(`Expected \`${name}\` to be an adapter, got what looks like ${advice}`);
}

/**
 * Checks an adapter's optional members and returns the client it wraps, if it says: `subscribe` and
 * `close` must be methods, and `client` an object (a function there is a method named `client`, which says nothing).
 */
function checkOptionalMembers(name: string, adapter: RedisAdapter): object | undefined {
  for (const method of ['subscribe', 'close']) {
    const member: unknown = Reflect.get(adapter, method);
    if (member !== undefined && typeof member !== 'function') {
      throw new TypeError(`Expected \`${name}.${method}\` to be a method or absent, got ${formatValue(member)}`);
    }
  }
  const client: unknown = Reflect.get(adapter, 'client');
  if (client === undefined || typeof client === 'function') return undefined;
  if (typeof client !== 'object' || client === null) {
    throw new TypeError(`Expected \`${name}.client\` to be the client object the adapter wraps, or absent, got ${formatValue(client)}`);
  }
  return client;
}

function isAdapter(value: unknown): value is RedisAdapter {
  return typeof value === 'object' && value !== null && ['evalsha', 'eval'].every((method) => typeof Reflect.get(value, method) === 'function');
}
