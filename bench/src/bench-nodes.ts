import { Redis, type RedisOptions } from 'ioredis';
import { Redis as Redis5 } from 'ioredis5';
import { type LatencyProxy, type LocalRedisNodes, startLatencyProxy, startRedisNodes } from 'local-redis-nodes';

/** How many independent nodes every contender locks on. */
export const NODE_COUNT = 5;
/** The delay the far node's proxy adds in each direction (S4), in milliseconds: a 40 ms round trip. */
export const FAR_NODE_DELAY_MS = 20;
/** Which node is far away in S4. */
export const FAR_NODE_INDEX = 0;

/** Which way the clients reach the nodes: all directly, or node {@link FAR_NODE_INDEX} through the proxy. */
export type Topology = 'near' | 'far';

/** The bench's own redis-server processes on loopback, and the proxy that makes one of them far. */
export interface BenchNodes {
  /** `redis://127.0.0.1:PORT` per node, for a topology. */
  urls(topology: Topology): readonly string[];
  /** One direct client per node for `INFO` (CPU figures), never used for locks. */
  readonly monitors: readonly Redis[];
  /** `redis-server --version`'s figure, as the nodes report it. */
  readonly redisVersion: string;
  /** Closes the monitors and the proxy, and stops the nodes by their process ids. */
  stop(): Promise<void>;
}

/** Starts {@link NODE_COUNT} nodes (persistence off) and a latency proxy in front of the far node. */
export async function startBenchNodes(): Promise<BenchNodes> {
  const nodes: LocalRedisNodes = await startRedisNodes({ count: NODE_COUNT });
  let proxy: LatencyProxy | undefined;
  const monitors: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const monitor of monitors) monitor.disconnect();
    await proxy?.close();
    await nodes.stop();
  };
  try {
    const farNode = nodes.nodes[FAR_NODE_INDEX];
    if (farNode === undefined) throw new Error(`No node ${FAR_NODE_INDEX} to put behind the proxy`);
    proxy = await startLatencyProxy({ targetPort: farNode.port, delayMs: FAR_NODE_DELAY_MS });
    monitors.push(...(await connectClients(nodes.urls)));
    const info = await monitors[0]?.info('server');
    const farUrls = nodes.urls.map((url, index) => (index === FAR_NODE_INDEX ? (proxy as LatencyProxy).url : url));
    return {
      urls: (topology) => (topology === 'far' ? farUrls : nodes.urls),
      monitors,
      redisVersion: /^redis_version:(\S+)/m.exec(info ?? '')?.[1] ?? 'unknown',
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Which major of ioredis {@link connectClients} opens its clients with. */
export type IoredisMajor = 5 | 6;

/**
 * Opens one ioredis client per url with the options a lock client should have (the adapter's advice):
 * no offline queue, one retry per request, so a down node fails fast; `overrides` change them (e.g. for
 * subscribers). Resolves once every client is ready, so no connection setup is ever timed. The clients of
 * `blackholed` nodes (S6: connections accepted, nothing ever answered) skip ioredis's handshake (the ready
 * check, `CLIENT SETINFO`, and `HELLO 3`: RESP2, since no reply is ever parsed), which would wait for an
 * answer: they are ready once connected, and their commands go out and hang, as they would on a node that
 * stopped answering after the client connected. With `major` 5 they are ioredis 5.11 clients, typed as
 * ioredis 6's: the bench and the contenders call nothing on them that differs between the two.
 */
export async function connectClients(urls: readonly string[], overrides: RedisOptions = {}, blackholed: readonly number[] = [], major: IoredisMajor = 6): Promise<Redis[]> {
  const RedisClass = major === 5 ? (Redis5 as unknown as typeof Redis) : Redis;
  const clients = urls.map(
    (url, index) =>
      new RedisClass(url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        ...(blackholed.includes(index) ? { enableReadyCheck: false, disableClientInfo: true, protocol: 2 } : {}),
        ...overrides,
      }),
  );
  for (const client of clients) client.on('error', () => undefined);
  try {
    await Promise.all(clients.map((client) => whenReady(client)));
  } catch (error) {
    for (const client of clients) client.disconnect();
    throw error;
  }
  return clients;
}

function whenReady(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No connection to ${client.options.port} within 5 s`)), 5_000);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
