import { afterAll, beforeAll, it } from '@jest/globals';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import {
  findRedisServer,
  type LocalRedisNode,
  type LocalRedisNodes,
  startRedisCluster,
  startRedisNodes,
} from 'local-redis-nodes';
import { quitClient } from '../../src/index.js';

/**
 * The `disconnectTimeout` of the clients tests make, in milliseconds: ioredis' 2 s would keep the test
 * process alive that long after closing a client whose node a test killed (see `quitClient`), and Jest
 * force-exits a worker still alive 0.5 s after its last test file.
 */
export const TEST_DISCONNECT_TIMEOUT_MS = 100;

/** Comma-separated `redis://` URLs of nodes to test against instead of local processes, e.g. the docker nodes. */
const EXTERNAL_NODE_URLS = parseNodeUrls(process.env['REDLOCK_TEST_NODES']);

/**
 * Whether tests may kill, pause and restart nodes: only when the nodes are processes this test file
 * started, not when `REDLOCK_TEST_NODES` points at nodes we do not control.
 */
export const canInjectFaults: boolean = EXTERNAL_NODE_URLS === undefined;

/** `it` for a test that kills, pauses or restarts nodes; `it.skip` when {@link canInjectFaults} is false. */
export const itWithFaults = canInjectFaults ? it : it.skip;

/**
 * Whether a local Redis Cluster can be started. Cluster tests always use local processes; with
 * `REDLOCK_TEST_NODES` set on a machine without redis-server they are skipped instead of failing.
 */
export const canStartCluster: boolean = EXTERNAL_NODE_URLS === undefined || findRedisServer() !== undefined;

/** Independent Redis nodes for one test file, available from its `beforeAll` hooks on. */
export interface RedisTestNodes {
  /** Each node's URL, by index. */
  readonly urls: readonly string[];
  /** The local processes, to kill, pause and restart. Throws when {@link canInjectFaults} is false. */
  readonly nodes: readonly LocalRedisNode[];
  /** Creates an ioredis client for node `index`; it is closed after the file's tests. */
  createClient(index: number, options?: RedisOptions): Redis;
  /** Creates an ioredis client for any `redis://` URL, e.g. a latency proxy's; it is closed after the file's tests. */
  connect(url: string, options?: RedisOptions): Redis;
  /**
   * Deletes every key on every node with FLUSHALL. Nodes from `REDLOCK_TEST_NODES` may be shared by test
   * files running in parallel, so prefer a key prefix per file and flush only where a test needs it.
   */
  flushAll(): Promise<void>;
}

/** Options of {@link useRedisNodes}. */
export interface UseRedisNodesOptions {
  /**
   * Starts local nodes with `appendonly yes` and `appendfsync always`, so a killed and restarted node keeps
   * every acknowledged write. Nodes from `REDLOCK_TEST_NODES` are used as they are.
   * @defaultValue `false`
   */
  readonly persistence?: boolean;
}

/**
 * Provides `count` independent Redis nodes to the calling test file: starts local redis-server processes
 * (persistence off unless asked for) in `beforeAll` and stops them in `afterAll`, or, when
 * `REDLOCK_TEST_NODES` is set, uses the first `count` of those URLs. Call it at the top of the file or of
 * a `describe`.
 */
export function useRedisNodes(count: number, options: UseRedisNodesOptions = {}): RedisTestNodes {
  let urls: readonly string[] | undefined;
  let local: LocalRedisNodes | undefined;
  let starting: Promise<LocalRedisNodes> | undefined;
  const clients = new ClientPool();

  beforeAll(async () => {
    if (EXTERNAL_NODE_URLS === undefined) {
      starting = startRedisNodes({ count, persistence: options.persistence ?? false });
      local = await starting;
      urls = local.urls;
    } else {
      if (EXTERNAL_NODE_URLS.length < count) {
        throw new Error(`This test file needs ${count} nodes, but REDLOCK_TEST_NODES lists ${EXTERNAL_NODE_URLS.length}`);
      }
      urls = EXTERNAL_NODE_URLS.slice(0, count);
    }
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await clients.closeAll();
    await stopWhenStarted(starting);
  }, HOOK_TIMEOUT_MS);

  const started = (): readonly string[] => {
    if (urls === undefined) throw new Error('The Redis nodes are not started yet: use them from beforeAll or a test');
    return urls;
  };
  const urlOf = (index: number): string => {
    const url = started()[index];
    if (url === undefined) throw new RangeError(`Expected a node index from 0 to ${count - 1}, got ${index}`);
    return url;
  };
  return {
    get urls() {
      return started();
    },
    get nodes() {
      started();
      if (local === undefined) {
        throw new Error('REDLOCK_TEST_NODES is set, so the nodes cannot be faulted: guard the test with itWithFaults');
      }
      return local.nodes;
    },
    createClient: (index, clientOptions = {}) => clients.add(new Redis(urlOf(index), { disconnectTimeout: TEST_DISCONNECT_TIMEOUT_MS, ...clientOptions })),
    connect: (url, clientOptions = {}) => clients.add(new Redis(url, { disconnectTimeout: TEST_DISCONNECT_TIMEOUT_MS, ...clientOptions })),
    async flushAll() {
      const admins = started().map((_, index) => clients.add(new Redis(urlOf(index), { commandTimeout: 5_000 })));
      try {
        await Promise.all(admins.map((admin) => admin.flushall()));
      } finally {
        await Promise.all(admins.map((admin) => clients.close(admin)));
      }
    },
  };
}

/** A local Redis Cluster for one test file, available from its `beforeAll` hooks on. */
export interface RedisTestCluster {
  /** The masters, by index. */
  readonly nodes: readonly LocalRedisNode[];
  /** Creates an ioredis `Cluster` client that discovers the masters; it is closed after the file's tests. */
  createClient(options?: ClusterOptions): Cluster;
}

/**
 * Provides a local Redis Cluster of `masters` masters to the calling test file: starts it in `beforeAll`
 * and stops it in `afterAll`. `REDLOCK_TEST_NODES` does not apply: a cluster is never shared.
 */
export function useRedisCluster(masters = 3): RedisTestCluster {
  let cluster: LocalRedisNodes | undefined;
  let starting: Promise<LocalRedisNodes> | undefined;
  const clients = new ClientPool();

  beforeAll(async () => {
    starting = startRedisCluster({ masters });
    cluster = await starting;
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await clients.closeAll();
    await stopWhenStarted(starting);
  }, HOOK_TIMEOUT_MS);

  const started = (): LocalRedisNodes => {
    if (cluster === undefined) throw new Error('The Redis Cluster is not started yet: use it from beforeAll or a test');
    return cluster;
  };
  return {
    get nodes() {
      return started().nodes;
    },
    createClient: (options = {}) =>
      clients.add(new Cluster(started().nodes.map(({ host, port }) => ({ host, port })), options)),
  };
}

/**
 * How long a hook that starts or stops servers may take, in milliseconds: more than the worst case of
 * startRedisCluster (about 40 s, usually 2 s), so a slow start fails with its own error, not Jest's timeout.
 */
const HOOK_TIMEOUT_MS = 60_000;

/**
 * Stops servers once their start settles. If `beforeAll` gave up on a start still running, the servers
 * would come up after `afterAll` and keep the test process alive; waiting for the start prevents that.
 */
async function stopWhenStarted(starting: Promise<LocalRedisNodes> | undefined): Promise<void> {
  const started = await starting?.catch(() => undefined);
  await started?.stop();
}

/** The clients a test file created, so that none is left open. */
class ClientPool {
  readonly #clients = new Set<Redis | Cluster>();

  add<C extends Redis | Cluster>(client: C): C {
    // Connection errors reach tests as rejected commands; without a listener ioredis would also print them.
    client.on('error', () => undefined);
    this.#clients.add(client);
    return client;
  }

  async close(client: Redis | Cluster): Promise<void> {
    this.#clients.delete(client);
    // QUIT bounded by 1 s: a paused or killed node sends no reply.
    await quitClient(client);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#clients].map((client) => this.close(client)));
  }
}

function parseNodeUrls(value: string | undefined): readonly string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const urls = value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  for (const url of urls) {
    if (!/^rediss?:\/\/[^/]+/.test(url)) {
      throw new Error(`Expected REDLOCK_TEST_NODES to be comma-separated redis:// URLs, got ${JSON.stringify(url)}`);
    }
  }
  return urls;
}
