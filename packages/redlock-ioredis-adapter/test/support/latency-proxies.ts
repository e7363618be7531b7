import { afterAll } from '@jest/globals';
import { type LatencyProxy, startLatencyProxy } from 'local-redis-nodes';

/** Latency proxies for one test file, started by its tests and closed after them. */
export interface TestLatencyProxies {
  /** Starts a proxy to the local port `targetPort`, adding `delayMs` each way; it is closed after the file's tests. */
  start(targetPort: number, delayMs?: number): Promise<LatencyProxy>;
}

/**
 * Provides latency proxies (`startLatencyProxy` of `local-redis-nodes`) to the calling test file, closed
 * in `afterAll`. Call it at the top of the file after `useRedisNodes()`: Jest runs `afterAll` hooks in
 * the order they were added, so the clients are closed first, through proxies that still forward (a
 * client closed behind a closed proxy would hold the process open for seconds). Leave a partitioned
 * proxy healed at the end of a test, for the same reason.
 */
export function useLatencyProxies(): TestLatencyProxies {
  const proxies: LatencyProxy[] = [];
  afterAll(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });
  return {
    async start(targetPort, delayMs = 0) {
      const proxy = await startLatencyProxy({ targetPort, delayMs });
      proxies.push(proxy);
      return proxy;
    },
  };
}
