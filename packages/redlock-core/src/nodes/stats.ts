import { type AcquireFailureReason, LockAcquireError } from '../base/errors.js';
import type { NodeError } from '../base/redlock-error.js';

/**
 * Counters of one `Redlock` since it was made, from `redlock.stats()`: cheap to read, for a health
 * endpoint or a metrics scrape. Each node's state and round trip are in `redlock.nodeHealth()`.
 */
export interface RedlockStats {
  /** Locks handed out by `acquire()`, `tryAcquire()` and `using()`, re-entrant ones included. */
  readonly acquisitions: number;
  /**
   * Calls of `acquire()`, `tryAcquire()` and `using()` that got no lock, by the reason of their
   * {@link LockAcquireError} (a `tryAcquire()` that resolved with `undefined` counts as
   * `'held-by-another-owner'`). Other rejections (an aborted signal, `close()`, a bad argument) are not counted.
   */
  readonly failures: Readonly<Record<AcquireFailureReason, number>>;
  /** Calls of `acquire()`, `tryAcquire()` and `using()` that do not hold their lock yet, right now: queued, retrying or in an attempt. */
  readonly waiting: number;
  /** Each node's failed calls, by node index. */
  readonly nodes: readonly NodeStats[];
}

/** The failed calls of one node, in {@link RedlockStats.nodes}: every operation, cleanups and background releases included. */
export interface NodeStats {
  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly nodeIndex: number;
  /** Calls that failed: the connection failed, or Redis replied with an error. */
  readonly errors: number;
  /** Calls that did not answer within the node's timeout. */
  readonly timeouts: number;
  /** Calls not sent because the node counted as down (see `nodeHealth()`). */
  readonly skippedWhileDown: number;
}

/** The calls of one node that got no answer, kept beside the node (`NodeState.callCounters`). */
export class NodeCallCounters {
  errors = 0;
  timeouts = 0;
  skippedWhileDown = 0;

  /** Counts one call that ended with `error`: refused while down, timed out, or failed. */
  count(error: NodeError): void {
    if (error.isDown) this.skippedWhileDown += 1;
    else if (error.isTimeout) this.timeouts += 1;
    else this.errors += 1;
  }
}

/** The acquisition counters of one `Redlock`. */
export class AcquisitionStats {
  #acquisitions = 0;
  #waiting = 0;
  readonly #failures: Record<AcquireFailureReason, number> = { 'held-by-another-owner': 0, 'nodes-unreachable': 0, 'no-validity': 0, 'foreign-key': 0 };

  /** Counts one acquisition while it runs, and how it ended; returns its promise itself, with no layer of promise around it. */
  track<T>(acquiring: () => Promise<T>): Promise<T> {
    const running = acquiring();
    this.started();
    // The handlers' own promise never rejects: the caller handles `running`'s rejection.
    running.then(() => this.onResolved(), (error: unknown) => this.onRejected(error));
    return running;
  }

  /** Counts one acquisition that starts now, for a caller that tells how it ended ({@link onResolved} or {@link onRejected}). */
  started(): void {
    this.#waiting += 1;
  }

  /** The acquisition counted by {@link started} acquired the lock. */
  onResolved(): void {
    this.#waiting -= 1;
    this.#acquisitions += 1;
  }

  /** The acquisition counted by {@link started} failed with `error`. */
  onRejected(error: unknown): void {
    this.#waiting -= 1;
    if (error instanceof LockAcquireError) this.#failures[error.reason] += 1;
  }

  /** A snapshot, with the node counters of `nodes`. */
  snapshot(nodes: readonly { readonly index: number; readonly callCounters: NodeCallCounters }[]): RedlockStats {
    return {
      acquisitions: this.#acquisitions,
      failures: { ...this.#failures },
      waiting: this.#waiting,
      nodes: nodes.map(({ index, callCounters: { errors, timeouts, skippedWhileDown } }) => ({ nodeIndex: index, errors, timeouts, skippedWhileDown })),
    };
  }
}
