// Everything the CLI does with the lock goes through this file: connecting, waiting for the lock, keeping it
// extended with a signal for its loss, releasing it, closing the connections. The rest of the CLI sees only
// LockSession and HeldLock, so a change of the library's API is a change here.
import { Redis, type RedisOptions } from 'ioredis';
import {
  type Leader,
  type Leadership,
  type Lock,
  LockAcquireError,
  type LockInspection,
  type Permit,
  PermitError,
  type ReadWriteHandle,
  type ReadWriteInspection,
  ReadWriteLockError,
  type ReadWriteMode,
  Redlock,
  type SemaphoreInspection,
} from 'redlock-core';
import { IoredisAdapter, quitClient } from 'redlock-ioredis-adapter';
import type { NodeSettings } from './arguments.js';
import { whenAborted } from './process-signals.js';
import { GIVE_UP_MS, watchValidityEnd } from './validity-end.js';

/**
 * How long connecting to one node may take, in milliseconds, before it counts as unreachable: `redlock -n`
 * on a black-holed node answers within this, and a node that refuses connections fails at once.
 */
export const CONNECT_TIMEOUT_MS = 2_000;

/** How long closing a connection may wait for QUIT's reply, in milliseconds; a paused node sends none. */
const QUIT_TIMEOUT_MS = 500;

/**
 * Client options for a short-lived process: a command for a node that is not connected fails at once (no
 * offline queue, no retry of a command caught by a dropped connection), so an attempt counts the node as
 * failed instead of waiting for it; the connection itself is retried every 0.1 to 1 s, because the command
 * may run for hours and its lock must outlive a node's restart. On disconnect, a socket that does not close
 * (still connecting to a node that is down, or to a paused node) is destroyed after 200 ms instead of
 * ioredis' 2 s, which would keep the process alive that long after its work is done.
 */
const CLIENT_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  connectTimeout: CONNECT_TIMEOUT_MS,
  retryStrategy: (times) => Math.min(times * 100, 1_000),
  disconnectTimeout: 200,
};

/** Settings of {@link LockSession.open}. */
export interface LockSessionOptions extends NodeSettings {
  /** Called with each connection error of node `nodeIndex` (ioredis reports them as events). */
  readonly onNodeError: (nodeIndex: number, error: Error) => void;
  /** Stops connecting: `open()` closes what it opened and rejects with its reason. */
  readonly signal: AbortSignal;
}

/** Settings of {@link LockSession.acquire}. */
export interface AcquireSettings {
  /** The lock's TTL, in milliseconds; the lock is extended by it while held. */
  readonly ttlMs: number;
  /** How long to wait while the lock is held by another owner, in milliseconds; 0 for one attempt, `undefined` for ever. */
  readonly waitMs: number | undefined;
  readonly fencing: boolean;
  /** Whether to take the lock in turn (redlock-core's `fair`); not with `permits` or `readWrite`. */
  readonly fair: boolean;
  /** With a number: one permit of the semaphore of that many permits on the resource, instead of its lock. */
  readonly permits: number | undefined;
  /** With a mode: the read-write lock on the resource, for reading or for writing, instead of its lock. */
  readonly readWrite: ReadWriteMode | undefined;
  /** Stops waiting: `acquire()` rejects with its reason, and no key is left on any node. */
  readonly signal: AbortSignal;
}

/**
 * A lock held and kept extended until `release()`.
 * held ──extension fails / validity runs out──▶ lost (`lost` aborts) · held or lost ──release()──▶ released
 */
export interface HeldLock {
  /** The fencing token, with `fencing`; else `undefined`. */
  readonly fencingToken: number | undefined;
  /**
   * Aborts the moment the lock can no longer be guaranteed: with the library's `LockLostError` when a quorum
   * lost it, or with an `Error` once no extension has come and only {@link GIVE_UP_MS} of validity is left
   * (nodes down or paused), so that the command can be stopped while the lock is still ours.
   */
  readonly lost: AbortSignal;
  /**
   * The validity left, in milliseconds: while held, by the monotonic clock; once `lost`, what the local
   * deadline of the last successful acquisition or extension still leaves (the lock may be someone else's
   * already when a quorum lost our keys); 0 once that deadline passed.
   */
  validityLeftMs(): number;
  /** Stops the extensions and releases the lock on every node; never rejects (keys left expire with their TTL). */
  release(): Promise<void>;
}

/** The Redis connections and the `Redlock` over them, for one run of the CLI. */
export class LockSession {
  readonly #redlock: Redlock;
  readonly #clients: readonly Redis[];

  private constructor(redlock: Redlock, clients: readonly Redis[]) {
    this.#redlock = redlock;
    this.#clients = clients;
  }

  /**
   * Connects to every node (waiting at most {@link CONNECT_TIMEOUT_MS} for each: a node that is down is
   * left to fail its calls at once, or until `signal` aborts) and builds the `Redlock`. Each adapter opens its own connection for
   * release notifications when a wait needs one, so a waiter takes the lock the moment it is released.
   */
  static async open(options: LockSessionOptions): Promise<LockSession> {
    const clients = options.nodeUrls.map((url, nodeIndex) => {
      const client = new Redis(url, CLIENT_OPTIONS);
      client.on('error', (error: Error) => options.onNodeError(nodeIndex, error));
      return client;
    });
    // One abort listener for all of them: one per client would make Node warn of a leak from 11 nodes on.
    await Promise.race([Promise.all(clients.map(whenConnectedOrFailed)), whenAborted(options.signal)]);
    try {
      options.signal.throwIfAborted();
      return new LockSession(new Redlock(clients.map((client) => new IoredisAdapter(client)), { keyPrefix: options.keyPrefix, restartGraceMs: options.restartGraceMs }), clients);
    } catch (error) {
      clients.forEach((client) => client.disconnect());
      throw error;
    }
  }

  /** How many nodes have a connection ready now. */
  get connectedCount(): number {
    return this.#clients.filter((client) => client.status === 'ready').length;
  }

  /** The indexes of the nodes with no connection ready now. */
  unconnectedNodes(): number[] {
    return this.#clients.flatMap((client, nodeIndex) => (client.status === 'ready' ? [] : [nodeIndex]));
  }

  /** How many nodes must agree. */
  get quorum(): number {
    return this.#redlock.quorum;
  }

  /**
   * Acquires the lock, waiting as `settings.waitMs` allows while another owner holds it, and keeps it
   * extended until released.
   *
   * @returns The held lock, or `undefined` when another owner held it for the whole wait.
   * @throws `LockAcquireError` when the nodes failed (`reason` other than `'held-by-another-owner'`),
   *   `NodeConfigurationError`, `signal.reason` when the signal aborted, `TypeError`/`RangeError` for a
   *   resource the library refuses; with `permits` or `readWrite`, `PermitError` or `ReadWriteLockError`
   *   instead of `LockAcquireError`.
   */
  async acquire(resource: string, settings: AcquireSettings): Promise<HeldLock | undefined> {
    const { ttlMs, waitMs, fencing, fair, signal, permits, readWrite } = settings;
    if (permits !== undefined) return this.#acquirePermit(resource, permits, settings);
    if (readWrite !== undefined) return this.#acquireReadWrite(resource, readWrite, settings);
    const options = { autoExtend: true, fencing, fair, signal };
    const lock =
      waitMs === 0
        ? await this.#redlock.tryAcquire(resource, ttlMs, options)
        : fair
          ? await this.#acquireInTurn(resource, ttlMs, waitMs, options)
          : await acquireWithinWait(
            waitMs,
            (wait) => this.#redlock.acquire(resource, ttlMs, { ...options, ...wait }),
            (error): error is LockAcquireError => error instanceof LockAcquireError && error.reason === 'held-by-another-owner',
          );
    return lock === undefined ? undefined : heldLockOf(lock, ttlMs, `the lock on "${resource}"`);
  }

  /**
   * Takes the lock in turn (`fair`): in one call, since a call that gives up leaves the nodes' queue, and a
   * next round would queue behind everyone who came meanwhile. Its retries do not end the wait, then: nodes
   * that stay unreachable do, checked every {@link QUORUM_CHECK_MS}, once fewer than a quorum answered for
   * {@link UNREACHABLE_MS} (exit 69, as rounds of retries end it).
   */
  async #acquireInTurn(resource: string, ttlMs: number, waitMs: number | undefined, options: { readonly signal: AbortSignal }): Promise<Lock | undefined> {
    const redlock = this.#redlock;
    const unreachable = new AbortController();
    const quorum = Math.floor(redlock.nodeHealth().length / 2) + 1;
    let unreachableSince: number | undefined;
    const check = setInterval(() => {
      const up = redlock.nodeHealth().filter((node) => node.state === 'up').length;
      if (up >= quorum) unreachableSince = undefined;
      else if ((unreachableSince ??= performance.now()) + UNREACHABLE_MS <= performance.now()) {
        unreachable.abort(
          new LockAcquireError(`Could not acquire "${resource}": nodes unreachable (${up} of ${redlock.nodeHealth().length} answering for ${UNREACHABLE_MS / 1000} s, quorum is ${quorum})`, {
            resources: [resource],
            attempts: [],
            reason: 'nodes-unreachable',
          }),
        );
      }
    }, QUORUM_CHECK_MS);
    check.unref();
    try {
      const wait = waitMs === undefined ? {} : { waitMs: Math.max(1, waitMs) };
      return await redlock.acquire(resource, ttlMs, { ...options, ...wait, retryCount: Infinity, signal: AbortSignal.any([options.signal, unreachable.signal]) });
    } catch (error) {
      if (error instanceof LockAcquireError && error.reason === 'held-by-another-owner' && error.waitMs !== undefined) return undefined;
      throw error;
    } finally {
      clearInterval(check);
    }
  }

  /**
   * Takes one permit of the semaphore of `limit` permits on the resource, waiting as `settings.waitMs`
   * allows while they are all held, and keeps it extended until released; see {@link acquire}.
   */
  async #acquirePermit(resource: string, limit: number, settings: AcquireSettings): Promise<HeldLock | undefined> {
    const { ttlMs, waitMs, signal } = settings;
    const semaphore = this.#redlock.semaphore(resource, { limit });
    const options = { autoExtend: true, signal };
    const permit =
      waitMs === 0
        ? await semaphore.tryAcquire(ttlMs, options)
        : await acquireWithinWait(
            waitMs,
            (wait) => semaphore.acquire(ttlMs, { ...options, ...wait }),
            (error): error is PermitError => error instanceof PermitError && error.reason === 'no-permits-free',
          );
    return permit === undefined ? undefined : heldLockOf(permit, ttlMs, `the permit of "${resource}"`);
  }

  /**
   * Takes the read-write lock on the resource in `mode`, waiting as `settings.waitMs` allows while it is
   * taken (a writer holds it or waits for it, for reading; anyone holds it, for writing), and keeps it
   * extended until released; see {@link acquire}. A waiting writer stops new readers meanwhile (writers
   * first); one that gives up withdraws that intent, which {@link close} waits for within its bound (else
   * it expires with the TTL), and `-n`'s single try leaves none.
   */
  async #acquireReadWrite(resource: string, mode: ReadWriteMode, settings: AcquireSettings): Promise<HeldLock | undefined> {
    const { ttlMs, waitMs, signal } = settings;
    const lock = this.#redlock.readWriteLock(resource);
    const options = { autoExtend: true, signal };
    const held =
      waitMs === 0
        ? await (mode === 'read' ? lock.tryAcquireRead(ttlMs, options) : lock.tryAcquireWrite(ttlMs, options))
        : await acquireWithinWait(
            waitMs,
            (wait) => (mode === 'read' ? lock.acquireRead(ttlMs, { ...options, ...wait }) : lock.acquireWrite(ttlMs, { ...options, ...wait })),
            (error): error is ReadWriteLockError => error instanceof ReadWriteLockError && error.reason === 'locked',
          );
    return held === undefined ? undefined : heldLockOf(held, ttlMs, `the ${mode} lock on "${resource}"`);
  }

  /** The permits in use of the semaphore of `limit` permits on the resource, and its holders; see `Semaphore.inspect`. */
  inspectPermits(resource: string, limit: number): Promise<SemaphoreInspection> {
    return this.#redlock.semaphore(resource, { limit }).inspect();
  }

  /** Whether a writer or how many readers hold the read-write lock on the resource, and whether a writer waits; see `ReadWriteLock.inspect`. */
  inspectReadWrite(resource: string): Promise<ReadWriteInspection> {
    return this.#redlock.readWriteLock(resource).inspect();
  }

  /**
   * Campaigns in election `name` as `value` until this process leads, or `waitMs` (milliseconds;
   * `undefined` for ever) runs out while another leads (`undefined` then), and keeps the leadership until
   * released: see `Election.campaign`. Waits as {@link acquire} does: nodes that stay unreachable end the
   * wait with the campaign's `LockAcquireError` (exit 69) within some 2 s, whatever `waitMs` says.
   */
  async campaign(name: string, settings: { readonly ttlMs: number; readonly waitMs: number | undefined; readonly value: string; readonly signal: AbortSignal }): Promise<HeldLock | undefined> {
    const { ttlMs, waitMs, value, signal } = settings;
    const election = this.#redlock.election(name, { ttlMs });
    const leadership = await acquireWithinWait(
      waitMs,
      (wait) => election.campaign(value, { signal, ...wait }),
      (error): error is LockAcquireError => error instanceof LockAcquireError && error.reason === 'held-by-another-owner',
    );
    return leadership === undefined ? undefined : heldLeadershipOf(leadership, `the leadership of "${name}"`);
  }

  /** Who leads election `name` now; see `Election.leader`. */
  leader(name: string): Promise<Leader | undefined> {
    return this.#redlock.election(name).leader();
  }

  /** Whether the resource is locked and for how long, by the quorum's view; see `Redlock.inspect`. */
  inspect(resource: string): Promise<LockInspection> {
    return this.#redlock.inspect(resource);
  }

  /**
   * Closes every connection: QUIT (so that a release still in flight on a slow node gets there first),
   * bounded by {@link QUIT_TIMEOUT_MS}, then a hard disconnect, so no socket or reconnection timer is left.
   */
  async close(): Promise<void> {
    // First what the library opened (release notifications, timers), then our own clients.
    await this.#redlock.close();
    await Promise.all(this.#clients.map((client) => quitClient(client, QUIT_TIMEOUT_MS)));
  }
}

/**
 * How many times one round of {@link acquireWithinWait} retries: the library's default, given explicitly,
 * since a call with `waitMs` and no `retryCount` would retry until `waitMs` whatever failed.
 */
const ROUND_RETRY_COUNT = 10;

/** How often a fair wait checks that a quorum of nodes answers, in milliseconds (see `LockSession.#acquireInTurn`). */
const QUORUM_CHECK_MS = 250;
/** How long fewer than a quorum of nodes may answer before a fair wait ends, in milliseconds: about one round of retries. */
const UNREACHABLE_MS = 2_000;

/**
 * Acquires in rounds until the resource is ours or `waitMs` (milliseconds; `undefined` for ever) ran out.
 * Each round retries {@link ROUND_RETRY_COUNT} times, so nodes that stay unreachable end the wait (exit 69)
 * within some 2 s, whatever `-w` says; a resource taken all through a round (`isTaken`) starts another,
 * until the signal or `waitMs` ends the wait.
 *
 * @param acquireRound - One round: the library's `acquire()`, given its retry count and the `waitMs` left, if any.
 * @returns What a round resolved with, or `undefined` when the resource was taken for the whole wait.
 */
async function acquireWithinWait<Held>(
  waitMs: number | undefined,
  acquireRound: (options: { readonly waitMs?: number; readonly retryCount: number }) => Promise<Held>,
  isTaken: (error: unknown) => error is { readonly waitMs: number | undefined },
): Promise<Held | undefined> {
  const deadline = waitMs === undefined ? Infinity : performance.now() + waitMs;
  for (;;) {
    const leftMs = Math.ceil(deadline - performance.now());
    try {
      return await acquireRound(leftMs === Infinity ? { retryCount: ROUND_RETRY_COUNT } : { waitMs: Math.max(1, leftMs), retryCount: ROUND_RETRY_COUNT });
    } catch (error) {
      if (!isTaken(error)) throw error;
      // A round that `waitMs` ended is the last one.
      if (error.waitMs !== undefined || performance.now() >= deadline) return undefined;
    }
  }
}

/** @param what - The hold as messages name it: `the lock on "res"`. */
function heldLockOf(lock: Lock | Permit | ReadWriteHandle, ttlMs: number, what: string): HeldLock {
  const validityEnd = watchValidityEnd(lock, what);
  return {
    fencingToken: 'fencingToken' in lock ? lock.fencingToken : undefined,
    lost: validityEnd.signal,
    validityLeftMs() {
      if (lock.state === 'held') return lock.remainingValidityMs;
      // A lost lock reads 0 validity; its deadline is still in `expiresAt` (wall clock, so bounded by the TTL).
      return Math.min(ttlMs, Math.max(0, lock.expiresAt - Date.now()));
    },
    // Keys a release could not remove expire with their TTL; the command's status is what matters here.
    release: () => {
      validityEnd.stop();
      return lock.release().then(
        () => undefined,
        () => undefined,
      );
    },
  };
}

/** A {@link HeldLock} of an election's leadership: its term as the fencing token, released by resigning. */
function heldLeadershipOf(leadership: Leadership, what: string): HeldLock {
  /** The monotonic time at which the validity known last ends: what is left of it once the leadership is lost. */
  let validUntil = performance.now() + leadership.remainingValidityMs;
  const watched = {
    signal: leadership.signal,
    get state() {
      return leadership.isLeading ? 'held' : 'lost';
    },
    get remainingValidityMs() {
      const leftMs = leadership.remainingValidityMs;
      if (leadership.isLeading) validUntil = performance.now() + leftMs;
      return leftMs;
    },
  };
  const validityEnd = watchValidityEnd(watched, what);
  return {
    fencingToken: leadership.term,
    lost: validityEnd.signal,
    validityLeftMs: () => (leadership.isLeading ? watched.remainingValidityMs : Math.max(0, validUntil - performance.now())),
    // Resigning clears the leader's value and releases: the next campaigner is woken at once.
    release: () => {
      validityEnd.stop();
      return leadership.resign().catch(() => undefined);
    },
  };
}

/** Resolves once `client` is ready, or failed to connect (an `'error'` or `'end'`), or after the connect timeout. */
function whenConnectedOrFailed(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done).off('error', done).off('end', done);
      resolve();
    };
    const timer = setTimeout(done, CONNECT_TIMEOUT_MS + 100);
    client.once('ready', done).once('error', done).once('end', done);
  });
}
