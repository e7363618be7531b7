import { type LocalRedisNode, type LocalRedisNodes, type RespReply, sendCommand, startRedisCluster, startRedisNodes } from 'local-redis-nodes';
import { HOOK_TIMEOUT_MS, type TestFunctions } from './test-functions.js';

/** How long one inspection command may wait for its reply, in milliseconds; a paused node sends none. */
const COMMAND_TIMEOUT_MS = 1_000;

/** Redis nodes for one suite, available from its `beforeAll` hooks on. */
export interface TestNodes {
  /** Each node's `redis://` URL, by index; for a cluster, each master's. */
  readonly urls: readonly string[];
  /** The local processes, to kill, pause and restart. Throws when {@link TestNodes.canInjectFaults} is false. */
  readonly nodes: readonly LocalRedisNode[];
  /** Whether the nodes are processes the kit started, so tests may kill and pause them. */
  readonly canInjectFaults: boolean;
  /**
   * Sends one command to node `index` over a connection of its own (RESP2, not through the adapter under
   * test), so the tests can look at keys independently of it. Rejects with the server's error reply, or
   * after 1 s without one.
   */
  command(index: number, args: readonly string[]): Promise<RespReply>;
}

/**
 * Comma-separated `redis://127.0.0.1:PORT` URLs of nodes to use instead of starting local processes, e.g.
 * docker/docker-compose.yml's. Tests that kill or pause nodes are then registered as skipped.
 */
function externalNodeUrls(): readonly string[] | undefined {
  const value = process.env['REDLOCK_TEST_NODES'];
  if (value === undefined || value.trim() === '') return undefined;
  return value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
}

/** Whether suites start their own nodes (and so may fault them): `REDLOCK_TEST_NODES` is not set. */
export function startsLocalNodes(): boolean {
  return externalNodeUrls() === undefined;
}

/**
 * Provides `count` independent Redis nodes to the suites registered in the same `describe` (or file):
 * starts local redis-server processes (persistence off) in `beforeAll` and stops them in `afterAll`, or,
 * when `REDLOCK_TEST_NODES` is set, uses the first `count` of those URLs. Pass the result to several
 * suites to share the nodes between them, e.g. one suite per client version.
 *
 * @throws `RangeError` (from `beforeAll`) if `REDLOCK_TEST_NODES` lists fewer than `count` nodes.
 * @example
 * ```ts
 * const nodes = useTestNodes(test, 5);
 * describeRedlockSuite({ name: 'client v4', test, connect: connectV4, nodes });
 * describeRedlockSuite({ name: 'client v5', test, connect: connectV5, nodes });
 * ```
 */
export function useTestNodes(test: TestFunctions, count: number): TestNodes {
  const external = externalNodeUrls();
  return useNodes(test, external === undefined ? () => startRedisNodes({ count }) : undefined, () => {
    if (external === undefined) return undefined;
    if (external.length < count) throw new RangeError(`Expected REDLOCK_TEST_NODES to list at least ${count} nodes, got ${external.length}`);
    return external.slice(0, count);
  });
}

/**
 * Provides a local Redis Cluster of `masters` masters (no replicas; redis-server 7.0 or later) to the
 * suites registered in the same `describe`: started in `beforeAll`, stopped in `afterAll`.
 * `REDLOCK_TEST_NODES` does not apply: a cluster is never shared.
 */
export function useTestCluster(test: TestFunctions, masters = 3): TestNodes {
  return useNodes(test, () => startRedisCluster({ masters }), () => undefined);
}

function useNodes(
  test: TestFunctions,
  start: (() => Promise<LocalRedisNodes>) | undefined,
  externalUrls: () => readonly string[] | undefined,
): TestNodes {
  let urls: readonly string[] | undefined;
  let local: LocalRedisNodes | undefined;
  let starting: Promise<LocalRedisNodes> | undefined;

  test.beforeAll(async () => {
    if (start === undefined) {
      urls = externalUrls();
      return;
    }
    starting = start();
    local = await starting;
    urls = local.urls;
  }, HOOK_TIMEOUT_MS);
  test.afterAll(async () => {
    // If beforeAll gave up on a start still running, its servers would come up later and keep the process alive.
    const started = await starting?.catch(() => undefined);
    await started?.stop();
  }, HOOK_TIMEOUT_MS);

  const started = (): readonly string[] => {
    if (urls === undefined) throw new Error('The Redis nodes are not started yet: use them from beforeAll or a test');
    return urls;
  };
  return {
    canInjectFaults: start !== undefined,
    get urls() {
      return started();
    },
    get nodes() {
      started();
      if (local === undefined) throw new Error('REDLOCK_TEST_NODES is set, so the nodes cannot be faulted');
      return local.nodes;
    },
    command(index, args) {
      const url = started()[index];
      if (url === undefined) return Promise.reject(new RangeError(`Expected a node index from 0 to ${started().length - 1}, got ${index}`));
      return sendCommand(loopbackPortOf(url), args, COMMAND_TIMEOUT_MS);
    },
  };
}

/** The port of a `redis://127.0.0.1:PORT` or `redis://localhost:PORT` URL: inspection reaches loopback only. */
function loopbackPortOf(url: string): number {
  const { hostname, port } = new URL(url);
  if (!['127.0.0.1', 'localhost'].includes(hostname) || port === '') {
    throw new TypeError(`Expected a node URL like redis://127.0.0.1:6379, got ${JSON.stringify(url)}`);
  }
  return Number(port);
}
