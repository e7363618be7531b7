import type { Clock } from 'redlock-core';
import type { Redis, RedisOptions } from 'ioredis';
import type { ScenarioId } from '../scenario-ids.js';

/** How long every contender asks the nodes to keep a lock, in milliseconds. */
export const LOCK_TTL_MS = 10_000;

/**
 * How a contender waits for a held resource:
 * - `defaults`: the library's documented defaults, untouched;
 * - `tuned`: retry every {@link TUNED_RETRY.retryDelayMs} ms without jitter, for up to
 *   {@link TUNED_RETRY.retryCount} retries (10 s), so waiters never give up within a sample.
 */
export type RetryPolicy = 'defaults' | 'tuned';

/** The tuned retry settings of S3, in each library's own option names by its contender file. */
export const TUNED_RETRY = { retryDelayMs: 50, retryJitterMs: 0, retryCount: 200 } as const;

/** What a contender is built on: ready ioredis clients, one per node, and how it retries. */
export interface ContenderSetup {
  /**
   * One client per node, connected and ready; the contender never closes them. ioredis 6, or ioredis 5 for
   * a contender on `ioredis5` (typed as 6: the bench calls nothing on them that differs between the two).
   */
  readonly clients: readonly Redis[];
  readonly retry: RetryPolicy;
  /**
   * The index of a node that is far away (S4), if any (S6 sets none: every library runs at its defaults
   * there): a library with a per-node timeout setting gives
   * it a longer one, as its documentation advises for a node in another datacenter.
   */
  readonly farNodeIndex: number | undefined;
  /**
   * Opens another client per node, in the same order, with the same options but `overrides`, ready (e.g.
   * pub/sub subscribers). They are the bench's to close, like `clients`.
   */
  connectMore(overrides?: RedisOptions): Promise<readonly Redis[]>;
  /**
   * The time source of a library that takes one (redlock-core's `clock` option): client-loop.mjs paces it,
   * so that under valgrind the core's timing (a node's timeout, its round-trip samples) runs as at S1's
   * speed rather than 50× slower. @defaultValue the library's own (the system clock)
   */
  readonly clock?: Clock;
}

/** Releases a held lock; resolves once the library's release resolved. */
export type Release = () => Promise<void>;

/** One lock library as the scenarios drive it: acquire a resource, later release it. */
export interface Contender {
  /**
   * Acquires `resource` for {@link LOCK_TTL_MS}, waiting and retrying as the retry policy says.
   * Resolves with the release; rejects when the library gives up (a "give-up" in S3).
   */
  acquire(resource: string): Promise<Release>;
  /**
   * How many calls in a row have timed out on each node, by node index, for a library that tells
   * (redlock-core's `nodeHealth()`): S6 counts the calls to answering nodes judged timed out from it.
   */
  nodeTimeoutsInARow?(): readonly number[];
  /**
   * Stops what the contender would do between its samples at the other contenders' cost, in the same
   * process: a GLIDE client with release notifications receives every wake on its node (about 16 µs of
   * CPU each), every other contender's included. The bench calls it once the contender is built and after
   * each of its samples, and {@link Contender.resume} before each; neither is timed.
   */
  suspend?(): Promise<void>;
  /** Undoes {@link Contender.suspend}, before a sample. */
  resume?(): Promise<void>;
}

/**
 * Whose numbers a row shows: this library, the floor (the reference of its client's rows: the least work a
 * Redlock can do, its writes coalesced as our adapters coalesce theirs), a baseline (shown for comparison
 * and judged by nothing, e.g. the floor writing each command at once), or a peer library.
 */
export type ContenderKind = 'ours' | 'floor' | 'baseline' | 'peer';

/**
 * The Redis client a contender locks through: each row is compared with the floor over the same client,
 * and our rows with the peers over the same client.
 */
export type RedisClientName = 'ioredis6' | 'ioredis5' | 'node-redis' | 'glide';

/**
 * The scenarios of the client matrix (ioredis 5, autopipelined peers, the node-redis and GLIDE floors and
 * peers): S1-S4. S5 and S6 run the contenders without a variant only, as their passes are long.
 */
export const MATRIX_SCENARIOS: readonly ScenarioId[] = ['S1', 'S2', 'S3-defaults', 'S3-tuned', 'S4'];

/** A contender as the bench lists it: a name, a kind, and how to build it. */
export interface ContenderDefinition {
  /** Short, stable name used in tables, JSON and `--only`, e.g. `redlock@5`. */
  readonly name: string;
  readonly kind: ContenderKind;
  /** The client it locks through. */
  readonly client: RedisClientName;
  /**
   * What its ioredis clients get on top of the bench's options, e.g. `enableAutoPipelining` (an ioredis 5
   * client takes the same ones). @defaultValue none
   */
  readonly clientOptions?: RedisOptions;
  /** The only scenarios it runs in. @defaultValue all */
  readonly scenarios?: readonly ScenarioId[];
  /** The package and version measured, for the report. */
  readonly packageName: string;
  /** Builds one instance over `setup`; may throw when the library cannot run on this setup. */
  create(setup: ContenderSetup): Promise<Contender>;
}
