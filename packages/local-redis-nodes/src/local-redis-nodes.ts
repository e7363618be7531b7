import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './free-ports.js';
import { EarlyExitError, type LocalRedisNode, RedisServerProcess } from './local-redis-node.js';
import { ensureRedisServer } from './redis-server-binary.js';

/** Options of {@link startRedisNodes}. */
export interface StartRedisNodesOptions {
  /** How many independent nodes: masters that know nothing of each other, as Redlock assumes. */
  count: number;
  /**
   * Keeps data across restarts (`appendonly yes`, `appendfsync always`, so every write is on disk before
   * its reply) in a temporary directory. Without it a restarted node comes back empty.
   * @defaultValue `false`: `--save '' --appendonly no`
   */
  persistence?: boolean;
}

/** Running redis-server processes, started by {@link startRedisNodes} or {@link startRedisCluster}. */
export interface LocalRedisNodes {
  /** The nodes, by index. */
  readonly nodes: readonly LocalRedisNode[];
  /** Each node's `redis://127.0.0.1:PORT`, by index. */
  readonly urls: readonly string[];
  /**
   * Resumes paused nodes and kills every node, waiting until each has exited, then removes the temporary
   * directories. Idempotent: later calls return the first call's promise. The nodes cannot start again.
   */
  stop(): Promise<void>;
}

/** How many times a node is started on fresh ports when its process exits early (its port was taken). */
const START_ATTEMPTS = 5;

/** Arguments that turn persistence off entirely: nothing is written to disk. */
export const EPHEMERAL_ARGS: readonly string[] = ['--save', '', '--appendonly', 'no'];

/** Arguments that keep every acknowledged write across a restart, SIGKILL included. */
const PERSISTENT_ARGS: readonly string[] = ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'];

/**
 * Starts `count` independent redis-server processes on free loopback ports and resolves once every one
 * answers PING. Call `stop()` when done (e.g. in `afterAll`). If this process dies first, the servers die
 * with it: on Linux the kernel kills them however it died, elsewhere exit and signal handlers do.
 *
 * @throws `Error` if redis-server is not installed (see {@link ensureRedisServer}) or a node fails to
 *   start; the nodes already started are stopped first. `TypeError`/`RangeError` for bad options.
 *
 * @example
 * ```ts
 * const redis = await startRedisNodes({ count: 5 });
 * try {
 *   const clients = redis.urls.map((url) => new Redis(url));
 *   redis.nodes[0]?.pause(); // node 0 now hangs: connected, but silent
 * } finally {
 *   await redis.stop();
 * }
 * ```
 */
export async function startRedisNodes(options: StartRedisNodesOptions): Promise<LocalRedisNodes> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got \`${String(options)}\``);
  }
  const count = checkNodeCount('count', options.count);
  const persistence = options.persistence ?? false;
  if (typeof persistence !== 'boolean') {
    throw new TypeError(`Expected \`persistence\` to be a boolean, got \`${String(persistence)}\``);
  }
  return launchNodeSet({
    count,
    portsPerNode: 1,
    args: () => (persistence ? PERSISTENT_ARGS : EPHEMERAL_ARGS),
  });
}

/** Validates a node count: a positive integer. */
export function checkNodeCount(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`Expected \`${name}\` to be a number, got \`${String(value)}\``);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Expected \`${name}\` to be a positive integer, got \`${value}\``);
  }
  return value;
}

/** What {@link launchNodeSet} starts. */
interface NodeSetPlan {
  readonly count: number;
  /** How many free ports each node needs: the client port first, then e.g. a cluster bus port. */
  readonly portsPerNode: number;
  /** The node-specific arguments for the ports picked for it. */
  readonly args: (ports: readonly number[]) => readonly string[];
}

/**
 * Starts a set of nodes in parallel, each in its own directory under a new temporary directory, and
 * returns them as {@link LocalRedisNodes}. If any node fails, stops the others, removes the directory and
 * rejects with that node's error.
 */
export async function launchNodeSet(plan: NodeSetPlan): Promise<NodeSet> {
  const binaryPath = await ensureRedisServer();
  const rootDir = await mkdtemp(join(tmpdir(), 'local-redis-nodes-'));
  let results: PromiseSettledResult<RedisServerProcess>[];
  try {
    // Picking every first-try port at once keeps sibling nodes from picking the same one.
    const ports = await freePorts(plan.count * plan.portsPerNode);
    results = await Promise.allSettled(
      Array.from({ length: plan.count }, (_, index) =>
        launchNode(plan, ports.slice(index * plan.portsPerNode, (index + 1) * plan.portsPerNode), (nodePorts) =>
          new RedisServerProcess({
            index,
            port: nodePorts[0] as number,
            binaryPath,
            dir: join(rootDir, `node-${index}`),
            args: plan.args(nodePorts),
          }),
        ),
      ),
    );
  } catch (error) {
    await rm(rootDir, { recursive: true, force: true });
    throw error;
  }
  const set = new NodeSet(
    results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])),
    rootDir,
  );
  const failure = results.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    await set.stop();
    throw failure.reason;
  }
  return set;
}

/** Starts one node, on fresh ports each time its process exits early, at most START_ATTEMPTS times. */
async function launchNode(
  plan: NodeSetPlan,
  firstPorts: readonly number[],
  create: (ports: readonly number[]) => RedisServerProcess,
): Promise<RedisServerProcess> {
  let ports = firstPorts;
  for (let attempt = 1; ; attempt += 1) {
    const node = create(ports);
    try {
      await node.start();
      return node;
    } catch (error) {
      if (!(error instanceof EarlyExitError) || attempt === START_ATTEMPTS) throw error;
      ports = await freePorts(plan.portsPerNode);
    }
  }
}

/** The {@link LocalRedisNodes} implementation: the processes and the temporary directory they share. */
export class NodeSet implements LocalRedisNodes {
  readonly nodes: readonly RedisServerProcess[];
  readonly urls: readonly string[];
  readonly #rootDir: string;
  #stopping: Promise<void> | undefined;

  constructor(nodes: readonly RedisServerProcess[], rootDir: string) {
    this.nodes = nodes;
    this.urls = nodes.map((node) => node.url);
    this.#rootDir = rootDir;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const results = await Promise.allSettled(
      this.nodes.map(async (node) => {
        node.resume();
        await node.close();
      }),
    );
    await rm(this.#rootDir, { recursive: true, force: true, maxRetries: 3 });
    const errors = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
    if (errors.length > 0) {
      throw new AggregateError(errors, `Could not stop ${errors.length} of ${this.nodes.length} redis-server processes`);
    }
  }
}
