import { GlideClient, GlideClusterClient, Logger } from '@valkey/valkey-glide';
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from '@jest/globals';
import type { AdapterFactory, TestFunctions } from 'redlock-adapter-test-kit';
import { GlideAdapter, GlideReleaseNotifications } from '../../src/index.js';

// GLIDE logs every error reply (each NOSCRIPT, each refused node) at `warn` by default; the tests expect them.
Logger.setLoggerConfig('off');

/** Jest's functions, for the kit. */
export const JEST: TestFunctions = { describe, it, beforeAll, afterAll, beforeEach, afterEach };

/**
 * How long GLIDE may wait for one reply, in milliseconds: above the core's per-node timeouts, so the core
 * decides when a node is too slow (GLIDE's own default is 250 ms).
 */
export const REQUEST_TIMEOUT_MS = 2_000;

/** The host and port of a `redis://host:port` URL, as GLIDE takes addresses. */
export function addressOf(url: string): { host: string; port: number } {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
}

/**
 * Connects a GLIDE client (a `GlideClusterClient` seeded with the URL when `cluster`), created with release
 * notifications when `notifications` (the canonical setup), and wraps it in a GlideAdapter. Its `close()`
 * closes the client.
 */
export function glideFactory({ cluster = false, notifications: withNotifications = true } = {}): AdapterFactory {
  return async (url) => {
    const notifications = withNotifications ? new GlideReleaseNotifications() : undefined;
    const configuration = {
      addresses: [addressOf(url)],
      requestTimeout: REQUEST_TIMEOUT_MS,
      ...(notifications === undefined ? {} : { pubsubSubscriptions: notifications.pubsubSubscriptions }),
    };
    const client = cluster ? await GlideClusterClient.createClient(configuration) : await GlideClient.createClient(configuration);
    return {
      adapter: new GlideAdapter(client, notifications === undefined ? {} : { notifications }),
      close: async () => client.close(),
    };
  };
}
