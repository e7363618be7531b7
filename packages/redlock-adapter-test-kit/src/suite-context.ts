// What the tests of the Redlock suite share, made once per suite by `describeRedlockSuite` (redlock-suite.ts):
// the nodes, a Redlock per simulated process, reads of every node, and the running test's key prefix. The
// suite's tests are registered from several files, each taking this context.
import type { Redlock, RedlockOptions } from 'redlock-core';
import type { TestNodes } from './test-nodes.js';

/** How many independent nodes the suite runs on. */
export const NODE_COUNT = 5;
/** A TTL long enough that no test depends on speed, in milliseconds. */
export const TTL_MS = 3_000;
/**
 * The per-node timeout, in milliseconds: room for a loaded machine, so that only the fault tests see
 * timeouts; they set a shorter one where they measure it.
 */
export const NODE_TIMEOUT_MS = 1_000;
/**
 * The node timeout of the tests that lock for 200 ms to 1 s: `acquire()` refuses a TTL that leaves less
 * validity than one node timeout.
 */
export const SHORT_TTL_NODE_TIMEOUT_MS = 150;
/** The helpers every test of the suite uses; see `describeRedlockSuite`. */
export interface SuiteContext {
  /** Registers a test, with the suite's timeout. */
  readonly it: (name: string, body: () => Promise<void>) => void;
  /** Registers a test that kills, restarts or pauses nodes: skipped where the kit does not control them. */
  readonly itWithFaults: (name: string, body: () => Promise<void>) => void;
  readonly redis: TestNodes;
  /** A Redlock with adapters of its own, as another process would have. Made while every node answers. */
  readonly newRedlock: (options?: RedlockOptions) => Promise<Redlock>;
  /** Sends a command to every node, `'✕'` for a node that cannot answer. */
  readonly onEveryNode: (args: readonly string[]) => Promise<unknown[]>;
  /** What each node stores under a resource's key. */
  readonly valuesOf: (resource: string) => Promise<unknown[]>;
  /** Every key of the running test on every node. */
  readonly keysOnNodes: () => Promise<unknown[]>;
  /** Waits, bounded, until no node holds a key of this test: cleanups of late nodes run in the background. */
  readonly eventuallyNoKeys: () => Promise<void>;
  /** Sends one command to node `index`. */
  readonly command: (index: number, ...args: string[]) => Promise<unknown>;
  /** The running test's key prefix. */
  readonly prefix: () => string;
}
