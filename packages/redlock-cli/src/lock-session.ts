// Everything the CLI does with the lock goes through this file: connecting, waiting for the lock, keeping it
// extended with a signal for its loss, releasing it, closing the connections. The rest of the CLI sees only
// LockSession and HeldLock, so a change of the library's API is a change here.
import { Redis, type RedisOptions } from 'ioredis';
import { type Lock, type LockInspection, Redlock, type UsingOptions } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';
import type { NodeSettings } from './arguments.js';

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

/** A subscriber must never give up re-subscribing after a reconnect, or ioredis rejects it unhandled. */
const SUBSCRIBER_OPTIONS: RedisOptions = { ...CLIENT_OPTIONS, maxRetriesPerRequest: null };

/** Settings of {@link LockSession.open}. */
export interface LockSessionOptions extends NodeSettings {
  /**
   * Whether acquisitions will wait for a held lock: then each node gets a second connection that carries
   * release notifications, so the lock is taken the moment it is released rather than at the next retry.
   */
  readonly willWait: boolean;
  /** Called with each connection error of node `nodeIndex` (ioredis reports them as events). */
  readonly onNodeError: (nodeIndex: number, error: Error) => void;
}

/** Settings of {@link LockSession.acquire}. */
export interface AcquireSettings {
  /** The lock's TTL, in milliseconds; the lock is extended by it while held. */
  readonly ttlMs: number;
  /** How long to wait while the lock is held by another owner, in milliseconds; 0 for one attempt, `undefined` for ever. */
  readonly waitMs: number | undefined;
  readonly fencing: boolean;
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
  /** Aborts, with a `LockLostError` as its reason, the moment the lock can no longer be guaranteed. */
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
  readonly #subscribers: readonly Redis[];

  private constructor(redlock: Redlock, clients: readonly Redis[], subscribers: readonly Redis[]) {
    this.#redlock = redlock;
    this.#clients = clients;
    this.#subscribers = subscribers;
  }

  /**
   * Connects to every node (waiting at most {@link CONNECT_TIMEOUT_MS} for each: a node that is down is
   * left to fail its calls at once) and builds the `Redlock`.
   */
  static async open(options: LockSessionOptions): Promise<LockSession> {
    const connect = (url: string, nodeIndex: number, clientOptions: RedisOptions): Redis => {
      const client = new Redis(url, clientOptions);
      client.on('error', (error: Error) => options.onNodeError(nodeIndex, error));
      return client;
    };
    const clients = options.nodeUrls.map((url, index) => connect(url, index, CLIENT_OPTIONS));
    const subscribers = options.willWait ? options.nodeUrls.map((url, index) => connect(url, index, SUBSCRIBER_OPTIONS)) : [];
    await Promise.all([...clients, ...subscribers].map(whenConnectedOrFailed));
    try {
      const adapters = clients.map((client, index) => new IoredisAdapter(client, { subscriber: subscribers[index] }));
      return new LockSession(new Redlock(adapters, { keyPrefix: options.keyPrefix }), clients, subscribers);
    } catch (error) {
      [...clients, ...subscribers].forEach((client) => client.disconnect());
      throw error;
    }
  }

  /** How many nodes have a connection ready now. */
  get connectedCount(): number {
    return this.#clients.filter((client) => client.status === 'ready').length;
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
   *   resource the library refuses.
   */
  async acquire(resource: string, settings: AcquireSettings): Promise<HeldLock | undefined> {
    const { ttlMs, waitMs, fencing, signal } = settings;
    // The waiting ends on the caller's signal or at the end of `waitMs`, whichever comes first.
    const waiting = new AbortController();
    const waitEnded = new Error('The wait for the lock ended');
    const onAbort = (): void => waiting.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    const timer = waitMs !== undefined && waitMs > 0 ? setTimeout(() => waiting.abort(waitEnded), waitMs) : undefined;
    try {
      for (;;) {
        try {
          return await this.#hold(resource, ttlMs, { fencing, signal: waiting.signal, ...(waitMs === 0 ? { retryCount: 0 } : {}) });
        } catch (error) {
          if (error === waitEnded) return undefined;
          if (!isHeldByAnotherOwner(error)) throw error;
          if (waitMs === 0) return undefined;
          // Held all through this round of retries: wait another round, until the signal or `waitMs` ends it.
        }
      }
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
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
    await Promise.all(this.#clients.map(quitClient));
    for (const subscriber of this.#subscribers) subscriber.disconnect();
  }

  /** Acquires with `using()`, handing out the lock and its signal, and ends the routine on `release()`. */
  #hold(resource: string, ttlMs: number, options: UsingOptions): Promise<HeldLock> {
    return new Promise((resolve, reject) => {
      let endRoutine: () => void = () => undefined;
      const routineEnd = new Promise<void>((resolveEnd) => {
        endRoutine = resolveEnd;
      });
      // using() extends the lock while the routine runs, aborts `lost` when it is lost, and releases it
      // (without rejecting) once the routine ends.
      const done = this.#redlock.using(
        resource,
        ttlMs,
        (lost, lock) => {
          resolve(heldLockOf(lock, lost, ttlMs, async () => {
            endRoutine();
            await done;
          }));
          return routineEnd;
        },
        options,
      );
      done.catch(reject);
    });
  }
}

function heldLockOf(lock: Lock, lost: AbortSignal, ttlMs: number, release: () => Promise<void>): HeldLock {
  return {
    fencingToken: lock.fencingToken,
    lost,
    validityLeftMs() {
      if (lock.state === 'held') return lock.remainingValidityMs;
      // A lost lock reads 0 validity; its deadline is still in `expiresAt` (wall clock, so bounded by the TTL).
      return Math.min(ttlMs, Math.max(0, lock.expiresAt - Date.now()));
    },
    release,
  };
}

function isHeldByAnotherOwner(error: unknown): boolean {
  return (
    error instanceof Error && error.name === 'LockAcquireError' && (error as { reason?: unknown }).reason === 'held-by-another-owner'
  );
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

async function quitClient(client: Redis): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.quit().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  // disconnect() on a client that already ended would start a reconnection timer that nothing clears.
  if (client.status !== 'end') client.disconnect();
}
