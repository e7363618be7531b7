import { createClient as createClient6, createCluster as createCluster6 } from 'redis';
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4';
import { createClient as createClient5, createCluster as createCluster5 } from 'redis5';
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from '@jest/globals';
import { type AdapterFactory, describeRedlockSuite, type TestFunctions, useTestNodes } from 'redlock-adapter-test-kit';
import { NodeRedisAdapter, type NodeRedisClient, type NodeRedisCluster, type NodeRedisSubscriber } from '../../src/index.js';

/** What the tests do with a client of any version besides wrapping it: connect, duplicate, close. */
export interface TestClient {
  connect(): Promise<unknown>;
  on(event: 'error', listener: () => void): unknown;
  duplicate(): TestClient & NodeRedisSubscriber;
  disconnect(): Promise<unknown>;
}

/** A client of any major as `duplicate()` makes one with other options. */
interface Duplicable<C> {
  duplicate(overrides: { socket: { host: string; port: number } }): C;
}

/**
 * `createClient` for one major and protocol, through `duplicate()` of one client made once: node-redis
 * builds a client class with every command for each distinct options object it is given (it caches the
 * last one only), 40-130 ms of CPU per client, where a duplicate reuses the class. The clients are the same
 * as `createClient({ url })` makes. A fresh `socket` per client: the options a duplicate copies are shared
 * shallowly, and node-redis writes a URL's host and port into the `socket` object it finds.
 */
function viaDuplicate<C>(create: () => Duplicable<C>): (url: string) => C {
  let template: Duplicable<C> | undefined;
  return (url) => {
    const { hostname, port } = new URL(url);
    return (template ??= create()).duplicate({ socket: { host: hostname, port: Number(port) } });
  };
}

/** One node-redis major with one protocol: how to make its single and cluster clients. */
export interface NodeRedisVersion {
  readonly name: string;
  createClient(url: string): TestClient & NodeRedisClient & NodeRedisSubscriber;
  createCluster(url: string): TestClient & NodeRedisCluster;
}

/**
 * Every supported major, each with every protocol it speaks (v4 speaks RESP2 only). The protocol is always
 * set: node-redis 6 speaks RESP3 unless told otherwise, so a client made without it is not a RESP2 client.
 */
export const NODE_REDIS_VERSIONS: readonly NodeRedisVersion[] = [
  { name: 'redis 4, RESP2', createClient: viaDuplicate(() => createClient4()), createCluster: (url) => createCluster4({ rootNodes: [{ url }] }) },
  { name: 'redis 5, RESP2', createClient: viaDuplicate(() => createClient5({ RESP: 2 })), createCluster: (url) => createCluster5({ rootNodes: [{ url }], RESP: 2 }) },
  {
    name: 'redis 5, RESP3',
    createClient: viaDuplicate(() => createClient5({ RESP: 3 })),
    createCluster: (url) => createCluster5({ rootNodes: [{ url }], RESP: 3 }),
  },
  { name: 'redis 6, RESP2', createClient: viaDuplicate(() => createClient6({ RESP: 2 })), createCluster: (url) => createCluster6({ rootNodes: [{ url }], RESP: 2 }) },
  {
    name: 'redis 6, RESP3',
    createClient: viaDuplicate(() => createClient6({ RESP: 3 })),
    createCluster: (url) => createCluster6({ rootNodes: [{ url }], RESP: 3 }),
  },
];

/** Where a factory's adapter gets its release notifications from. */
export type SubscriberKind = 'owned' | 'given' | 'none';

/**
 * Connects a client of `version` (a cluster client seeded with the URL when `cluster`) and wraps it in a
 * NodeRedisAdapter whose notifications come from `subscriber`: the connection the adapter opens itself
 * (`'owned'`, the default), a client duplicated and connected here (`'given'`), or none
 * (`notifications: false`). Its `close()` closes the adapter, then the clients made here.
 */
export function nodeRedisFactory(version: NodeRedisVersion, { cluster = false, subscriber: kind = 'owned' as SubscriberKind } = {}): AdapterFactory {
  return async (url) => {
    const client = cluster ? version.createCluster(url) : version.createClient(url);
    const subscriber = kind === 'given' ? client.duplicate() : undefined;
    const clients: TestClient[] = subscriber === undefined ? [client] : [client, subscriber];
    // Connection errors reach the core as rejected commands; without a listener node-redis would throw them.
    for (const each of clients) each.on('error', () => undefined);
    await Promise.all(clients.map((each) => each.connect()));
    const adapter = new NodeRedisAdapter(client, kind === 'given' ? { subscriber } : { notifications: kind === 'owned' });
    return {
      adapter,
      close: async () => {
        await adapter.close();
        // One at a time through a promise: a client that already closed throws synchronously.
        await Promise.all(clients.map((each) => Promise.resolve().then(() => each.disconnect()).catch(() => undefined)));
      },
    };
  };
}

/** Jest's functions, for the kit. */
export const JEST: TestFunctions = { describe, it, beforeAll, afterAll, beforeEach, afterEach };

/**
 * Runs the kit's Redlock suite for each of `versions`, with the adapter's defaults (its own subscriber),
 * on five nodes they share. One test file per major keeps the runs apart (and lets Jest spread them over
 * workers).
 */
export function describeRedlockSuites(versions: readonly NodeRedisVersion[]): void {
  const nodes = useTestNodes(JEST, 5);
  for (const version of versions) {
    describeRedlockSuite({
      name: `NodeRedisAdapter, ${version.name}`,
      test: JEST,
      nodes,
      connect: nodeRedisFactory(version),
    });
  }
}

/** The versions of one major, by the name's prefix, e.g. `'redis 5'`. */
export function versionsOf(major: string): readonly NodeRedisVersion[] {
  return NODE_REDIS_VERSIONS.filter((version) => version.name.startsWith(`${major},`));
}
