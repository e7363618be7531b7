import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Cluster, Redis } from 'ioredis';
import { type LatencyProxy, startLatencyProxy } from 'local-redis-nodes';
import { MisconfiguredNodeError, NodeError, Redlock } from 'redlock-core';
import { IoredisAdapter } from '../../src/index.js';
import { eventually } from '../support/eventually.js';
import { canStartCluster, TEST_DISCONNECT_TIMEOUT_MS, useRedisCluster, useRedisNodes } from '../support/redis-servers.js';

// One Redlock node is a Redis Cluster, the other two are standalone masters: a lock on two resources
// without a shared hash tag is refused with CROSSSLOT by the cluster only, while the standalone nodes
// would grant it and make a quorum of 2 of 3. The lock must still never be handed out, as long as the
// cluster's refusal is known when the quorum would form: here the standalone nodes sit behind proxies
// adding 15 ms each way, so it always is, however loaded the machine. (A refusal that comes after a quorum
// granted cannot fail the call any more: a unit test covers that warning.)

/** The delay each way in front of the standalone nodes, in milliseconds. */
const STANDALONE_DELAY_MS = 15;

const KEY_PREFIX = 'cross-slot-mixed-test:';
/** No hash tag: the two keys hash to different slots of the cluster (checked in the first test). */
const RESOURCES = ['orders:1', 'orders:2'];

(canStartCluster ? describe : describe.skip)('Redlock over a Redis Cluster and two standalone nodes', () => {
  const cluster = useRedisCluster(3);
  const standalone = useRedisNodes(2);
  let clusterClient: Cluster;
  let standaloneClients: Redis[];
  let proxies: LatencyProxy[] = [];
  /** The Redlock's clients of the standalone nodes, through the proxies. */
  let delayedClients: Redis[] = [];
  let redlock: Redlock;

  beforeAll(async () => {
    clusterClient = cluster.createClient();
    standaloneClients = [standalone.createClient(0), standalone.createClient(1)];
    proxies = await Promise.all(
      standalone.urls.map((url) => startLatencyProxy({ targetPort: Number(new URL(url).port), delayMs: STANDALONE_DELAY_MS })),
    );
    // A short disconnectTimeout: closed with their proxies, they would keep the test process alive 2 s.
    delayedClients = proxies.map((proxy) => new Redis(proxy.url, { disconnectTimeout: TEST_DISCONNECT_TIMEOUT_MS }));
    // Slot discovery happens on the first command: do it before the tests.
    await Promise.all([clusterClient.ping(), ...standaloneClients.map((client) => client.ping()), ...delayedClients.map((client) => client.ping())]);
    redlock = new Redlock([clusterClient, ...delayedClients].map((client) => new IoredisAdapter(client)), {
      keyPrefix: KEY_PREFIX,
      retryCount: 0,
      // Room for a loaded machine: none of these tests is about timeouts.
      nodeTimeoutMs: 2_000,
    });
  });
  afterAll(async () => {
    await redlock?.close();
    for (const client of delayedClients) client.disconnect();
    await Promise.all(proxies.map((proxy) => proxy.close()));
  });

  /** The keys under KEY_PREFIX on every cluster master and both standalone nodes. */
  async function lockKeys(): Promise<string[]> {
    const clients: (Redis | Cluster)[] = [...clusterClient.nodes('master'), ...standaloneClients];
    return (await Promise.all(clients.map((client) => client.keys(`${KEY_PREFIX}*`)))).flat();
  }

  it('rejects acquire() with MisconfiguredNodeError naming the cluster node, though the standalone nodes make a quorum', async () => {
    const [firstSlot, secondSlot] = await Promise.all(RESOURCES.map((resource) => clusterClient.cluster('KEYSLOT', KEY_PREFIX + resource)));
    expect(firstSlot).not.toBe(secondSlot);

    const error = await redlock.acquire(RESOURCES, 10_000).then(
      // A lock handed out is the bug under test: release it, so the next tests start clean.
      async (lock) => (await lock.release(), lock),
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(MisconfiguredNodeError);
    const { problem, nodeIndexes, resources, nodeErrors, message } = error as MisconfiguredNodeError;
    expect(problem).toBe('cross-slot');
    expect(nodeIndexes).toEqual([0]);
    expect(resources).toEqual(RESOURCES);
    expect(message).toMatch(/hash tag/);
    expect(nodeErrors).toHaveLength(1);
    expect(nodeErrors[0]).toBeInstanceOf(NodeError);
    expect((nodeErrors[0]?.cause as Error).message).toMatch(/^CROSSSLOT /);
    expect(redlock.stats().acquisitions).toBe(0);
    // What the standalone nodes granted is released; the cleanup may finish just after the rejection.
    expect(await eventually(lockKeys, (keys) => keys.length === 0, 5_000)).toEqual([]);
  });

  it('rejects using() the same way without running the routine, and leaves no key on any node', async () => {
    let ran = false;
    const error = await redlock
      .using(RESOURCES, 10_000, async () => {
        ran = true;
      })
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(MisconfiguredNodeError);
    expect(ran).toBe(false);
    expect(await eventually(lockKeys, (keys) => keys.length === 0, 5_000)).toEqual([]);
  });

  it('acquires and releases on all three nodes once the resources share a hash tag', async () => {
    const tagged = ['{orders}:1', '{orders}:2'];
    const lock = await redlock.acquire(tagged, 10_000);
    expect((await lockKeys()).sort()).toEqual(
      [...tagged, ...tagged, ...tagged].map((resource) => KEY_PREFIX + resource).sort(),
    );
    await lock.release();
    expect(await eventually(lockKeys, (keys) => keys.length === 0, 5_000)).toEqual([]);
  });
});
