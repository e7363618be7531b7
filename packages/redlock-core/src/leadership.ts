// The leadership a campaign won: a fenced lock kept extended, labelled with the leader's value and term.
import { channel } from 'node:diagnostics_channel';
import { DIAGNOSTICS_CHANNELS, type ElectionLossMessage, type ElectionMessage } from './base/diagnostics.js';
import type { Lock } from './lock/lock.js';
import { MAX_LABEL_LENGTH } from './scripts/label.js';
import { checkType } from './settings/value-checks.js';

const campaignChannel = channel(DIAGNOSTICS_CHANNELS.electionCampaign);
const lossChannel = channel(DIAGNOSTICS_CHANNELS.electionLoss);
const resignChannel = channel(DIAGNOSTICS_CHANNELS.electionResign);

/** Who leads an election: the value the leader proclaimed, and its term. */
export interface Leader {
  /** What the leader proclaimed: a host name, a URL; public. */
  readonly value: string;
  /** The leadership's term: a fencing token, greater than every earlier leader's. */
  readonly term: number;
}

/** The label a leader writes on its lock: its term and value, which `leaderOf()` reads back. */
export function labelOf(term: number, value: string): string {
  return JSON.stringify({ term, value });
}

/**
 * The leader a lock's label names, or `undefined` for a label that no leader wrote: a leader's label was
 * written by the lock it won, whose fencing token (`labelFencingToken`) is its term. Any other lock's label
 * (a lock taken without fencing, or with another token) is nobody's, whatever term it claims.
 */
export function leaderOf(label: string | undefined, labelFencingToken: number | undefined): Leader | undefined {
  if (label === undefined || labelFencingToken === undefined) return undefined;
  try {
    const { term, value } = JSON.parse(label) as { readonly term?: unknown; readonly value?: unknown };
    return term === labelFencingToken && typeof value === 'string' ? { term, value } : undefined;
  } catch {
    return undefined;
  }
}

/** Checks a leader's value before any node is called: a string whose label fits, whatever the term. */
export function checkLeaderValue(value: unknown): asserts value is string {
  checkType('value', value, 'string');
  const length = labelOf(Number.MAX_SAFE_INTEGER, value).length;
  if (length > MAX_LABEL_LENGTH) {
    throw new RangeError(`Expected \`value\` to take at most ${MAX_LABEL_LENGTH} characters as a label, got ${length}: a leader's value says who leads, not what it does`);
  }
}

/**
 * Leadership of an election, won by `election.campaign()`: the election's lock, held with a fencing token
 * (the term) and kept extended while it lasts, labelled with the term and the leader's value for anyone
 * who reads `election.leader()`.
 *
 * leading ──resign()──▶ resigned · leading ──an extension fails, a limit, `redlock.close()`──▶ lost
 *
 * A lost leadership's `signal` aborts with the reason; stop acting as the leader at once. Pass `term` to
 * whatever the leader writes to, so that it can refuse an older leader's late writes.
 */
export class Leadership {
  /** The election's name. */
  readonly election: string;
  /** The term: the lock's fencing token, greater than every earlier leader's. */
  readonly term: number;
  #value: string;
  readonly #lock: Lock;
  #isResigned = false;
  /** The resignation in progress or done; `undefined` again after one that failed, so that a call retries it. */
  #resigning: Promise<void> | undefined;

  /** @internal */
  constructor(election: string, lock: Lock, value: string) {
    this.election = election;
    this.#lock = lock;
    this.term = lock.fencingToken as number;
    this.#value = value;
    lock.signal.addEventListener(
      'abort',
      () => {
        if (!this.#isResigned && lossChannel.hasSubscribers) lossChannel.publish({ ...this.#message(), error: lock.signal.reason } satisfies ElectionLossMessage);
      },
      { once: true },
    );
    if (campaignChannel.hasSubscribers) campaignChannel.publish(this.#message());
  }

  /** The value this leader proclaimed last. */
  get value(): string {
    return this.#value;
  }

  /**
   * Aborts the moment leadership is lost (with a `LockLostError`, a `LockLimitError` for `maxExtensions` or
   * `maxHoldMs`, or a `RedlockClosedError`), never at `resign()`. Pass it to the leader's work.
   */
  get signal(): AbortSignal {
    return this.#lock.signal;
  }

  /** Milliseconds of leadership guaranteed from now, on the monotonic clock (validity, as a lock's); 0 once it ended. */
  get remainingValidityMs(): number {
    return this.#isResigned ? 0 : this.#lock.remainingValidityMs;
  }

  /** Whether this still leads: not resigned, the lock held with validity left, and its {@link signal} not aborted. */
  get isLeading(): boolean {
    return this.state === 'leading';
  }

  /**
   * `'leading'`, `'resigned'` once `resign()` was called, or `'lost'`: its lock lost or expired, or its
   * {@link signal} aborted (a limit, `redlock.close()`), from the moment it did.
   */
  get state(): 'leading' | 'resigned' | 'lost' {
    if (this.#isResigned) return 'resigned';
    // The signal exists (the constructor listens to it): a limit or close() aborts it while the lock is still held.
    return this.#lock.state === 'held' && !this.#lock.signal.aborted ? 'leading' : 'lost';
  }

  /**
   * Throws unless this still leads, reading the monotonic clock now: call it right before a write that
   * only the leader may make (a stalled event loop aborts `signal` late).
   * @throws {@link LockLostError} when the leadership was lost, expired or resigned.
   */
  assertLeading(): void {
    this.#lock.assertValid();
  }

  /**
   * Changes the leader's value, for `leader()` and `observe()` everywhere; the term stays. When it rejects,
   * `value` stays the one before, and so does the label later extensions write on the nodes.
   * @throws {@link LockExtendError} when the nodes could not be told (the leadership may be lost: see `signal`);
   *   `TypeError` or `RangeError` for a bad value, before any node is called.
   */
  async proclaim(value: string): Promise<void> {
    checkLeaderValue(value);
    await this.#lock.setLabel(labelOf(this.term, value));
    this.#value = value;
  }

  /**
   * Ends the leadership at once: clears the label (observers see no leader) and releases the lock, whose
   * release wakes the next campaigner. Calling it again returns the same promise, or after one that
   * rejected, sends the release again; `signal` does not abort.
   * @throws {@link LockReleaseError} when fewer than a quorum of nodes confirmed the release: the
   *   leadership then ends at the latest `ttlMs` later.
   */
  resign(): Promise<void> {
    this.#resigning ??= this.#resign().catch((error: unknown) => {
      this.#resigning = undefined;
      throw error;
    });
    return this.#resigning;
  }

  async #resign(): Promise<void> {
    if (!this.#isResigned && resignChannel.hasSubscribers) resignChannel.publish(this.#message());
    this.#isResigned = true;
    // The label is cleared (each node announces it) as the lock is released, not a round trip before: a
    // node runs both in the order sent on its connection, and a label left behind is nobody's once the
    // key is gone. The extension that clears it then ends `not-held` ("released meanwhile"), no loss.
    const clearing = this.#lock.state === 'held' ? this.#lock.setLabel('').catch(() => undefined) : undefined;
    await this.#lock.release();
    await clearing;
  }

  #message(): ElectionMessage {
    return { election: this.election, value: this.#value, term: this.term };
  }
}
