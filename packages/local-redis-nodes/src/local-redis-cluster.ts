import { setTimeout as delay } from 'node:timers/promises';
import type { LocalRedisNode } from './local-redis-node.js';
import { checkNodeCount, EPHEMERAL_ARGS, launchNodeSet, type LocalRedisNodes } from './local-redis-nodes.js';
import { ensureRedisServer, redisServerVersion } from './redis-server-binary.js';
import { type RespReply, sendCommand } from './resp.js';

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /**
   * How many masters share the hash slots. No replicas are started.
   * @defaultValue `3`
   */
  masters?: number;
}

/** Redis Cluster splits the key space into this many hash slots. */
const SLOT_COUNT = 16_384;
/**
 * How long the masters may take to agree on the cluster after they met, in milliseconds. It usually takes
 * about 2 s: a master that starts with its slots waits that long before it reports `cluster_state:ok`.
 */
const CLUSTER_READY_TIMEOUT_MS = 15_000;
/** How long one setup command may wait for its reply, in milliseconds. */
const COMMAND_TIMEOUT_MS = 2_000;
/** The pause between two checks of the cluster state, in milliseconds. */
const POLL_INTERVAL_MS = 50;
/**
 * How long a master may be unreachable before the others count it as failed, in milliseconds. Shorter than
 * Redis' 15 s default so tests that kill a master see the cluster react in reasonable time.
 */
const CLUSTER_NODE_TIMEOUT_MS = 5_000;

/**
 * Starts a real Redis Cluster of `masters` cluster-enabled redis-server processes (no replicas) on free
 * loopback ports, with the hash slots split evenly, and resolves once every master reports
 * `cluster_state:ok`. It is set up without redis-cli: CLUSTER ADDSLOTSRANGE on each master, then
 * CLUSTER MEET. Needs redis-server 7.0 or later. `urls` lists the masters; any one of them is enough for a
 * cluster client to discover the rest.
 *
 * @throws `Error` if redis-server is missing or older than 7.0, or the cluster is not ready within 15 s;
 *   the processes are stopped first. `TypeError`/`RangeError` for a bad `masters`.
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster({ masters: 3 });
 * const client = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })));
 * // … use keys with a shared hash tag, e.g. `{orders}:1` and `{orders}:2`, to keep them in one slot
 * await client.quit();
 * await cluster.stop();
 * ```
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<LocalRedisNodes> {
  const masters = checkNodeCount('masters', options.masters ?? 3);
  if (masters > SLOT_COUNT) throw new RangeError(`Expected \`masters\` to be at most ${SLOT_COUNT}, got \`${masters}\``);
  const binaryPath = await ensureRedisServer();
  const version = redisServerVersion(binaryPath);
  if ((version[0] ?? 0) < 7) {
    throw new Error(`startRedisCluster needs redis-server 7.0 or later (for --cluster-port and CLUSTER ADDSLOTSRANGE), found ${version.join('.')} at ${binaryPath}`);
  }
  const set = await launchNodeSet({
    count: masters,
    portsPerNode: 2,
    args: ([, busPort]) => [
      ...EPHEMERAL_ARGS,
      ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
      ...['--cluster-port', String(busPort), '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS)],
    ],
  });
  try {
    await formCluster(set.nodes);
  } catch (error) {
    await set.stop();
    throw error;
  }
  return set;
}

/** Assigns each master its slots, introduces the masters to each other and waits until they agree. */
async function formCluster(nodes: readonly LocalRedisNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node, index) => {
      // Distinct config epochs up front, as redis-cli does, spare the masters resolving a collision first.
      await command(node, 'CLUSTER', 'SET-CONFIG-EPOCH', String(index + 1));
      const [first, last] = slotRangeOf(index, nodes.length);
      await command(node, 'CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
    }),
  );
  const busPorts = await Promise.all(
    nodes.map(async (node) => ((await command(node, 'CONFIG', 'GET', 'cluster-port')) as string[])[1] ?? ''),
  );
  // Meeting one master would do, as gossip spreads the rest, but each node gossips with a few random peers
  // once a second; every pair meeting directly makes the cluster agree within Redis' own 2 s startup delay.
  await Promise.all(
    nodes.flatMap((node, index) =>
      nodes
        .slice(index + 1)
        .map((other, offset) => command(node, 'CLUSTER', 'MEET', other.host, String(other.port), busPorts[index + 1 + offset] ?? '')),
    ),
  );
  await waitUntilClusterIsOk(nodes);
}

/** The first and last hash slot of master `index` of `count`, so that the slots are split evenly. */
function slotRangeOf(index: number, count: number): readonly [number, number] {
  return [Math.floor((index * SLOT_COUNT) / count), Math.floor(((index + 1) * SLOT_COUNT) / count) - 1];
}

async function waitUntilClusterIsOk(nodes: readonly LocalRedisNode[]): Promise<void> {
  const startedAt = performance.now();
  let states: string[] = [];
  while (performance.now() - startedAt < CLUSTER_READY_TIMEOUT_MS) {
    const infos = await Promise.all(nodes.map(async (node) => parseInfo(await command(node, 'CLUSTER', 'INFO'))));
    const isOk = (info: Readonly<Record<string, string>>): boolean =>
      info['cluster_state'] === 'ok' &&
      info['cluster_known_nodes'] === String(nodes.length) &&
      info['cluster_slots_ok'] === String(SLOT_COUNT);
    if (infos.every(isOk)) return;
    states = infos.map(
      (info, index) =>
        `port ${nodes[index]?.port}: ${info['cluster_state']}, knows ${info['cluster_known_nodes']} nodes, ${info['cluster_slots_ok']} slots ok`,
    );
    await delay(POLL_INTERVAL_MS);
  }
  throw new Error(`The cluster did not reach cluster_state:ok within ${CLUSTER_READY_TIMEOUT_MS} ms (${states.join('; ')})`);
}

async function command(node: LocalRedisNode, ...args: string[]): Promise<RespReply> {
  try {
    return await sendCommand(node.port, args, COMMAND_TIMEOUT_MS);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Cluster setup failed: \`${args.join(' ')}\` on port ${node.port} replied ${message}`, { cause: error });
  }
}

/** Parses `key:value` lines, as INFO and CLUSTER INFO reply. */
function parseInfo(reply: RespReply): Readonly<Record<string, string>> {
  const fields: Record<string, string> = {};
  for (const line of String(reply).split('\r\n')) {
    const separator = line.indexOf(':');
    if (separator > 0) fields[line.slice(0, separator)] = line.slice(separator + 1);
  }
  return fields;
}
