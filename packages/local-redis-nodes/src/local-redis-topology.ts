import { type LatencyProxy, startLatencyProxy } from './latency-proxy.js';
import type { LocalRedisNode } from './local-redis-node.js';
import { type LocalRedisNodes, startRedisNodes } from './local-redis-nodes.js';

/** Options of {@link startRedisTopology}. */
export interface StartRedisTopologyOptions {
  /**
   * The round trip from the client to each node, in milliseconds, one entry per node: each node's proxy
   * delays every chunk by half of it in each direction. `0` adds nothing to loopback.
   */
  readonly rttsMs: readonly number[];
  /**
   * Indexes of nodes that are black-holed from the start: their proxies accept connections and hold back
   * every byte, so a client connects but never hears an answer (`proxies[index].heal()` lets the held
   * bytes flow). @defaultValue `[]`
   */
  readonly blackholed?: readonly number[];
  /** As `persistence` of `startRedisNodes`: keeps data across restarts of a node. @defaultValue `false` */
  readonly persistence?: boolean;
}

/**
 * Redis nodes spread over datacenters, on one machine: independent redis-server processes, each behind
 * its own {@link LatencyProxy}. Clients in the client's datacenter connect to `urls`; tests inspect the
 * nodes directly through `nodes[index].url`.
 */
export interface LocalRedisTopology {
  /** Each node's proxy as `redis://127.0.0.1:PORT`, by index: what a client far from the nodes uses. */
  readonly urls: readonly string[];
  /** The round trip each proxy adds, in milliseconds, by index, as given. */
  readonly rttsMs: readonly number[];
  /** The indexes of the black-holed nodes, ascending. */
  readonly blackholed: readonly number[];
  /** The proxies, by index: change `delayMs`, partition, heal or cut a node's link. */
  readonly proxies: readonly LatencyProxy[];
  /** The redis-server processes behind the proxies, by index; their `url` bypasses the proxy. */
  readonly nodes: readonly LocalRedisNode[];
  /**
   * Closes every proxy (cutting its connections), then kills every node and waits until each has exited.
   * Idempotent: later calls return the first call's promise. Disconnect your clients first: a client
   * that sends QUIT through a closed proxy waits for its reconnection attempts.
   */
  stop(): Promise<void>;
}

/**
 * Starts `rttsMs.length` independent redis-server processes, each behind a latency proxy adding its
 * round trip, with the `blackholed` ones silent from the start, in one call; resolves once every node
 * answers PING and every proxy listens. Call `stop()` when done.
 *
 * @throws `TypeError`/`RangeError` for bad options, before anything starts. `Error` if redis-server is
 *   not installed or a node or proxy fails to start; what was started is stopped first.
 *
 * @example
 * ```ts
 * // Two nodes next to the client, two 30 ms away, one 80 ms away and silent.
 * const topology = await startRedisTopology({ rttsMs: [0, 0, 30, 30, 80], blackholed: [4] });
 * try {
 *   const clients = topology.urls.map((url) => new Redis(url));
 *   // ...
 * } finally {
 *   // disconnect the clients, then:
 *   await topology.stop();
 * }
 * ```
 */
export async function startRedisTopology(options: StartRedisTopologyOptions): Promise<LocalRedisTopology> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got \`${String(options)}\``);
  }
  const rttsMs = checkRtts(options.rttsMs);
  const blackholed = checkBlackholed(options.blackholed ?? [], rttsMs.length);
  const persistence = options.persistence ?? false;
  if (typeof persistence !== 'boolean') {
    throw new TypeError(`Expected \`persistence\` to be a boolean, got \`${String(persistence)}\``);
  }

  const servers: LocalRedisNodes = await startRedisNodes({ count: rttsMs.length, persistence });
  const started = await Promise.allSettled(
    servers.nodes.map((node, index) => startLatencyProxy({ targetPort: node.port, delayMs: (rttsMs[index] as number) / 2 })),
  );
  const proxies = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const closeAll = async (): Promise<void> => {
    await Promise.allSettled(proxies.map((proxy) => proxy.close()));
    await servers.stop();
  };
  const failure = started.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    await closeAll();
    throw failure.reason;
  }
  for (const index of blackholed) proxies[index]?.partition();

  let stopping: Promise<void> | undefined;
  return {
    urls: proxies.map((proxy) => proxy.url),
    rttsMs,
    blackholed,
    proxies,
    nodes: servers.nodes,
    stop() {
      stopping ??= closeAll();
      return stopping;
    },
  };
}

function checkRtts(value: unknown): readonly number[] {
  if (!Array.isArray(value)) throw new TypeError(`Expected \`rttsMs\` to be an array, got \`${String(value)}\``);
  if (value.length === 0) throw new RangeError('Expected `rttsMs` to list at least one node, got `[]`');
  for (const rttMs of value as unknown[]) {
    if (typeof rttMs !== 'number') throw new TypeError(`Expected every \`rttsMs\` entry to be a number, got \`${String(rttMs)}\``);
    if (!Number.isFinite(rttMs) || rttMs < 0) {
      throw new RangeError(`Expected every \`rttsMs\` entry to be a finite number of milliseconds ≥ 0, got \`${rttMs}\``);
    }
  }
  return Object.freeze([...(value as number[])]);
}

function checkBlackholed(value: unknown, nodeCount: number): readonly number[] {
  if (!Array.isArray(value)) throw new TypeError(`Expected \`blackholed\` to be an array, got \`${String(value)}\``);
  for (const index of value as unknown[]) {
    if (typeof index !== 'number') throw new TypeError(`Expected every \`blackholed\` entry to be a number, got \`${String(index)}\``);
    if (!Number.isInteger(index) || index < 0 || index >= nodeCount) {
      throw new RangeError(`Expected every \`blackholed\` entry to be a node index from 0 to ${nodeCount - 1}, got \`${index}\``);
    }
  }
  const unique = [...new Set(value as number[])].sort((a, b) => a - b);
  if (unique.length !== value.length) throw new RangeError(`Expected \`blackholed\` to name each node once, got \`[${value.join(', ')}]\``);
  return Object.freeze(unique);
}
