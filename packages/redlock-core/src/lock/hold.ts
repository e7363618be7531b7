import { driftMs, unrefTimer } from '../base/clock.js';
import { describeResources } from '../base/describe.js';
import { publishLockLost } from '../base/tracing.js';
import { lockClosedErrorOf, type LockLimitError, LockLostError } from '../base/errors.js';
import type { AcquireNodeOutcome, ExtendNodeOutcome, PendingNodeOutcome, ReleaseResult } from '../base/outcomes.js';
import type { FanOut } from '../nodes/fan-out.js';
import type { NodeSet } from '../nodes/node-state.js';
import type { ReleaseStatus } from '../scripts/release.js';

/** A running automatic extension of one handle (see `keepExtended`); `stop()` ends it and waits for an extension in flight. */
export interface HandleExtension {
  stop(): Promise<void>;
}

/** What one extension guarantees once the nodes may have run it, whatever its outcome: its TTL minus the drift, from its start. */
interface ExtensionBound {
  readonly sequence: number;
  readonly validUntil: number;
  readonly expiresAt: number;
}

/** Why an automatic extension stopped on its own. */
export type ExtensionStop = LockLostError | LockLimitError;

/** What an acquisition hands its lock: where it holds, with which token, and until when. */
export interface HoldInit {
  readonly set: NodeSet;
  readonly resources: readonly string[];
  readonly keys: readonly string[];
  readonly token: string;
  readonly ttlMs: number;
  readonly validUntil: number;
  readonly keysExpireAt: number;
  readonly expiresAt: number;
  readonly written: boolean[];
  readonly nodes: readonly (AcquireNodeOutcome | PendingNodeOutcome)[];
  /** Names what is held in messages, when one needs it; by default `the lock on "<resources>"` (a semaphore's: its permits). */
  readonly what?: () => string;
  /** The queue ticket of the call that won it, whose member its release takes out of the wait queues first (see wake-queue.ts), or `''`. */
  readonly wakeTicket?: string;
  /** Whether it was acquired with `fair`: its release makes sure the waiter it wakes takes it (see lock/hand-off.ts). */
  readonly isFair?: boolean;
}

/** The next {@link Hold.id}: process-wide, so that two `Redlock`s never hand out the same one. */
let nextHoldId = 1;
/** Each hold's id, once read: beside the holds, as a field cost the untraced path 25-70 instructions per acquire+release. */
const holdIds = new WeakMap<Hold, number>();

/**
 * The state one acquisition holds on the nodes, shared by the lock and its re-entrant handles: the keys
 * are released when the last handle is.
 * active ──release() of the last handle──▶ released · active ──extension finds a quorum lost──▶ lost ·
 * active ──validity runs out──▶ expired. Only an active hold is extended.
 */
export class Hold {
  readonly set: NodeSet;
  readonly resources: readonly string[];
  readonly keys: readonly string[];
  readonly token: string;
  /** See {@link HoldInit.wakeTicket}. */
  readonly wakeTicket: string;
  /** See {@link HoldInit.isFair}. */
  readonly isFair: boolean;
  /** See {@link what}; `undefined` for a lock, named only when a message needs it (not on every acquisition). */
  readonly #what: (() => string) | undefined;
  ttlMs: number;
  /** Monotonic time at which validity ends. */
  validUntil: number;
  /** Monotonic time at which the keys expire on the nodes if nobody extends them: the last TTL from its call's start. */
  keysExpireAt: number;
  expiresAt: number;
  /** Handles not yet released. */
  holders = 1;
  /** Whether the keys are being or have been released on the nodes. */
  isReleased = false;
  /** Monotonic time at which a lock's release was first sent to the nodes (see `releaseOnEveryNode`). */
  releasedAtMs: number | undefined;
  /** Why the lock is known lost (a quorum no longer holds our token), once it is. */
  lostBecause: LockLostError | undefined;
  #isLossPublished = false;
  /** Each node's outcome in the attempt that acquired the hold, at the decision. */
  readonly nodes: readonly (AcquireNodeOutcome | PendingNodeOutcome)[];
  /** Each node's outcome in the extension applied last, at its decision (see `Lock.extensionNodes`). */
  extensionNodes: readonly (ExtendNodeOutcome | PendingNodeOutcome)[] | undefined;
  /** Called once when the lock is found lost; see {@link onLost}. Made on first use: most locks have none. */
  #lostListeners: Set<(error: LockLostError) => void> | undefined;
  /** By node index, whether a command that may write our keys was sent there: releases go only there. */
  readonly written: boolean[];
  release: Promise<ReleaseResult> | undefined;
  /** The latest release's calls: whether each node deleted our keys (see `removeLateGrant`). */
  releasedOn: FanOut<ReleaseStatus> | undefined;
  /** Extensions run concurrently; only the latest started one may set the validity (see {@link beginExtension}). */
  extensionsStarted = 0;
  extensionApplied = 0;
  /** What each extension started after the one applied last guarantees, in the order they started. */
  #extensionBounds: ExtensionBound[] | undefined;
  /** The extensions whose node calls are running (see `removeLateGrant`); made on first use. */
  extensionsInFlight: Set<Promise<unknown>> | undefined;
  /** See `HoldHandle.afterRelease`. */
  onReleased: ((keys: readonly string[]) => void) | undefined;
  /** The keys {@link onReleased} is told: the hold's own, or those of the wait queue it was acquired through. */
  queueKeys: readonly string[];
  /** The lock's label once `setLabel()` was called (`''` once cleared): every extension sends it (see scripts/label.ts). */
  label: string | undefined;
  /** The running automatic extensions of the hold's handles (`autoExtend`), by handle; made on first use. */
  extensions: Map<object, HandleExtension> | undefined;
  /** The controller of the lock's signal, made on its first read or at its first abort: most locks have none. */
  #controller: AbortController | undefined;
  /** Whether the signal aborted because the validity ran out: final, so no extension agreed afterwards is applied. */
  hasRunOut = false;
  /** The unref'd timer that aborts the signal when validity runs out. */
  #signalTimer: unknown;
  #stopWatchingClose: (() => void) | undefined;

  constructor(init: HoldInit) {
    this.set = init.set;
    this.resources = init.resources;
    this.keys = this.queueKeys = init.keys;
    this.token = init.token;
    this.wakeTicket = init.wakeTicket ?? '';
    this.isFair = init.isFair === true;
    this.#what = init.what;
    this.ttlMs = init.ttlMs;
    this.validUntil = init.validUntil;
    this.keysExpireAt = init.keysExpireAt;
    this.expiresAt = init.expiresAt;
    this.nodes = init.nodes;
    this.written = init.written;
  }

  /**
   * Starts an extension to `ttlMs` from `startMs` (`wallStartMs` on the wall clock) and returns its
   * sequence number. Any node may run it from now on, whatever the vote, so a TTL shorter than what is
   * left caps the validity at once; a longer one changes nothing until applied ({@link applyExtension}).
   */
  beginExtension(startMs: number, wallStartMs: number, ttlMs: number): number {
    const sequence = ++this.extensionsStarted;
    const guaranteedMs = ttlMs - driftMs(ttlMs, this.set.options.driftFactor);
    const bound = { sequence, validUntil: startMs + guaranteedMs, expiresAt: Math.floor(wallStartMs + guaranteedMs) };
    (this.#extensionBounds ??= []).push(bound);
    if (bound.validUntil < this.validUntil) this.#setValidity(bound.validUntil, Math.min(this.expiresAt, bound.expiresAt));
    return sequence;
  }

  /**
   * Extension `sequence` was agreed by a quorum with validity left: the validity runs to what it
   * guarantees, capped by the extensions started after it (every node runs them after it), unless one
   * started later was applied already. Returns `false`, applying nothing, once {@link hasRunOut}.
   */
  applyExtension(sequence: number, ttlMs: number, keysExpireAt: number, nodes: readonly (ExtendNodeOutcome | PendingNodeOutcome)[]): boolean {
    this.keysExpireAt = Math.max(this.keysExpireAt, keysExpireAt);
    // A hold whose signal said its validity ran out stays so: the holder was told to stop.
    if (this.hasRunOut) return false;
    if (sequence <= this.extensionApplied) return true;
    this.extensionApplied = sequence;
    this.ttlMs = ttlMs;
    this.extensionNodes = nodes;
    let validUntil = Infinity;
    let expiresAt = Infinity;
    for (const bound of this.#extensionBounds ?? []) {
      if (bound.sequence < sequence) continue;
      validUntil = Math.min(validUntil, bound.validUntil);
      expiresAt = Math.min(expiresAt, bound.expiresAt);
    }
    // Only those started after it can still cap a later one.
    this.#extensionBounds = this.#extensionBounds?.filter((bound) => bound.sequence > sequence);
    this.#setValidity(validUntil, expiresAt);
    return true;
  }

  /** Moves the end of validity, and the signal's timer with it when it comes earlier. */
  #setValidity(validUntil: number, expiresAt: number): void {
    const isEarlier = validUntil < this.validUntil;
    this.validUntil = validUntil;
    this.expiresAt = expiresAt;
    // A later end needs nothing: the timer reads the clock when it fires and waits again.
    if (!isEarlier) return;
    if (this.#signalTimer !== undefined) {
      this.clearSignalTimer();
      this.#armSignalTimer();
    }
    // The automatic extensions schedule theirs from the end: an earlier one needs them sooner.
    for (const listener of this.#earlierEndListeners ?? []) listener();
  }

  #earlierEndListeners: Set<() => void> | undefined;

  /**
   * Calls `listener` whenever the validity comes to end earlier (a shorter extension, by any handle of the
   * hold); returns the function that removes it. Automatic extensions listen, to extend in time.
   */
  onEarlierEnd(listener: () => void): () => void {
    const listeners = (this.#earlierEndListeners ??= new Set());
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Names this hold in the diagnostics payloads (`holdId`): a process-wide counter, not a secret, given on first read. */
  get id(): number {
    if (!holdIds.has(this)) holdIds.set(this, nextHoldId++);
    return holdIds.get(this) as number;
  }

  /** Where the hold stands at monotonic time `atMs`, release aside: lost, validity left, or expired. */
  stateAt(atMs: number): 'held' | 'expired' | 'lost' {
    if (this.lostBecause !== undefined) return 'lost';
    return this.validUntil > atMs ? 'held' : 'expired';
  }

  /** Whether any handle may still rely on the hold: not released, not lost, validity left. */
  get isActive(): boolean {
    return !this.isReleased && this.lostBecause === undefined && this.validUntil > this.set.options.clock.now();
  }

  /** How messages name what is held: `the lock on "orders:42"`, or a semaphore's permits. */
  get what(): string {
    return this.#what?.() ?? `the lock on ${this.describe()}`;
  }

  /** The resources, for messages. */
  describe(): string {
    return describeResources(this.resources);
  }

  /** The hold's signal (see `Lock.signal`), made on first read. */
  get signal(): AbortSignal {
    if (this.#controller !== undefined) return this.#controller.signal;
    const controller = (this.#controller = new AbortController());
    if (this.lostBecause !== undefined) controller.abort(this.lostBecause);
    else if (!this.isReleased) {
      if (this.set.lifecycle.isClosed) this.abortSignal(lockClosedErrorOf(this.resources, this.what));
      else if (this.validUntil > this.set.options.clock.now()) {
        this.#armSignalTimer();
        this.watchClose();
      } else {
        this.hasRunOut = true;
        this.abortSignal(this.#expiredReason());
      }
    }
    return controller.signal;
  }

  /** Aborts the hold's signal (making it if nobody read it yet); clears its timer, and its close hook when idle. */
  abortSignal(reason: unknown): void {
    const controller = (this.#controller ??= new AbortController());
    this.clearSignalTimer();
    if (!controller.signal.aborted) controller.abort(reason);
    this.unwatchCloseWhenIdle();
  }

  /**
   * Aborts the signal when the hold's validity ends, never after: the timer waits the whole milliseconds
   * left, rounded down, and is re-armed when an extension moved the end meanwhile. The fraction of a
   * millisecond left then is given up (the validity ends there): one more millisecond would be past it.
   */
  #armSignalTimer(): void {
    const { clock } = this.set.options;
    const remainingMs = this.validUntil - clock.now();
    this.#signalTimer = clock.setTimeout(() => {
      this.#signalTimer = undefined;
      if (this.isReleased || this.#controller?.signal.aborted === true) return;
      const now = clock.now();
      // Re-armed only with a whole millisecond or more left, so each timer moves the clock on.
      if (this.validUntil - now >= 1) return this.#armSignalTimer();
      if (this.validUntil > now) {
        this.validUntil = now;
        this.expiresAt = Math.min(this.expiresAt, Math.floor(clock.wallNow()));
      }
      this.hasRunOut = true;
      const reason = this.#expiredReason();
      this.publishLoss('validity-ran-out', reason);
      this.abortSignal(reason);
    }, Math.max(0, Math.floor(remainingMs)));
    unrefTimer(this.#signalTimer);
  }

  clearSignalTimer(): void {
    if (this.#signalTimer === undefined) return;
    this.set.options.clock.clearTimeout(this.#signalTimer);
    this.#signalTimer = undefined;
  }

  /**
   * Keeps `handle` extended with the extension `start` makes (see `keepExtended`) until it stops on its own
   * (its reason then aborts the signal), the handle lets it go ({@link letGoOf}), or the `Redlock` closes;
   * a handle already kept extended stays as it is.
   */
  keepHandleExtended(handle: object, start: (onStop: (reason: ExtensionStop) => void) => HandleExtension): void {
    if (this.extensions?.has(handle)) return;
    let hasStopped = false;
    let extension: HandleExtension | undefined;
    extension = start((reason) => {
      hasStopped = true;
      if (extension !== undefined && this.extensions?.get(handle) === extension) this.extensions.delete(handle);
      // One handle's limit ends its extensions only: while another handle keeps the hold extended, the
      // shared signal must not tell every holder to wrap up (it would stay aborted for good).
      if (!(reason instanceof LockLostError) && (this.extensions?.size ?? 0) > 0) return;
      this.abortSignal(reason);
    });
    // Stopped at once, on a loss found meanwhile.
    if (hasStopped) return;
    (this.extensions ??= new Map()).set(handle, extension);
    this.watchClose();
  }

  /** Stops `handle`'s extension, if it runs, because the handle was released; one in flight may still answer, unheeded. */
  letGoOf(handle: object): void {
    const extension = this.extensions?.get(handle);
    if (extension === undefined) return;
    this.extensions?.delete(handle);
    void extension.stop();
  }

  /** Makes `redlock.close()` stop the hold's extensions and abort its signal, if it does not already. */
  watchClose(): void {
    this.#stopWatchingClose ??= this.set.lifecycle.onClose(() => {
      this.#stopWatchingClose = undefined;
      const { lifecycle } = this.set;
      for (const extension of this.extensions?.values() ?? []) lifecycle.track(extension.stop());
      this.extensions = undefined;
      if (!this.isReleased && this.lostBecause === undefined) this.abortSignal(lockClosedErrorOf(this.resources, this.what));
    });
  }

  /** Removes the close hook once there is nothing left for `close()` to stop, so the hook never outlives the hold. */
  unwatchCloseWhenIdle(): void {
    const controller = this.#controller;
    const hasSignalToAbort = controller !== undefined && !controller.signal.aborted && !this.isReleased;
    if (hasSignalToAbort || (this.extensions?.size ?? 0) > 0) return;
    this.#stopWatchingClose?.();
    this.#stopWatchingClose = undefined;
  }

  #expiredReason(): LockLostError {
    return new LockLostError(`Lost ${this.what}: its validity ran out`, { resources: this.resources });
  }

  /**
   * Calls `listener` once, when the hold is found lost (a quorum no longer holds our token), with the
   * {@link LockLostError}; at once if it already is. Returns a function that removes the listener.
   */
  onLost(listener: (error: LockLostError) => void): () => void {
    if (this.lostBecause !== undefined) {
      listener(this.lostBecause);
      return () => undefined;
    }
    const listeners = (this.#lostListeners ??= new Set());
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Marks the hold lost, for every handle on it: its validity is 0 from now on, and `onLost` listeners run. */
  markLost(error: LockLostError): void {
    if (this.lostBecause !== undefined || this.isReleased) return;
    this.publishLoss('quorum-lost', error);
    this.lostBecause = error;
    const listeners = [...(this.#lostListeners ?? [])];
    this.#lostListeners = undefined;
    for (const listener of listeners) listener(error);
    if (this.#controller !== undefined) this.abortSignal(error);
  }

  /** Publishes on `redlock-core.lock.lost` that the hold can no longer be guaranteed, once per hold and never after its release. */
  publishLoss(reason: 'quorum-lost' | 'validity-ran-out', error: LockLostError): void {
    if (this.#isLossPublished || this.isReleased) return;
    this.#isLossPublished = true;
    const remainingValidityMs = Math.max(0, this.validUntil - this.set.options.clock.now());
    publishLockLost(() => ({ resources: this.resources, reason, remainingValidityMs, error, holdId: this.id }));
  }

  /** The last handle let go: the keys are being released, the signal's timer and loss listeners are dropped. */
  markReleased(): void {
    this.isReleased = true;
    this.#lostListeners = undefined;
    this.clearSignalTimer();
    this.unwatchCloseWhenIdle();
  }
}
