import { setMaxListeners } from 'node:events';
import { type Clock, unrefTimer } from './clock.js';
import { closedErrorOf, RedlockClosedError } from './errors.js';

/**
 * `Symbol.asyncDispose`, which Node has from 20.4 (and 18.18) as the registered `nodejs.asyncDispose`;
 * on older versions the same registered symbol, so `await using` works wherever a polyfill defines it so.
 */
export const ASYNC_DISPOSE = (Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')) as typeof Symbol.asyncDispose;

/**
 * Defines `dispose` on `prototype` under {@link ASYNC_DISPOSE}, for `await using`. The class declares it as
 * `[Symbol.asyncDispose]()` in an interface of its name, not as a member: declarations with both names
 * failed to compile under TypeScript 7 (`Duplicate identifier '[ASYNC_DISPOSE]'`), and with the member
 * alone TypeScript 5 took no `await using` of it.
 */
export function defineAsyncDispose<T>(prototype: T, dispose: (this: T) => Promise<void>): void {
  Object.defineProperty(prototype, ASYNC_DISPOSE, { value: dispose, writable: true, configurable: true });
}

/**
 * How long `redlock.close()` waits at most for the work still running in the background, in milliseconds:
 * releases and failed-attempt cleanups in flight, the re-sends of a lock's release that no quorum confirmed
 * yet, an attempt that was running when its caller was told the `Redlock` closed, and the end of
 * release-notification subscriptions. What is left then is given up: its keys expire after their TTL. Each
 * adapter's `close()` then gets as long again, so `close()` settles within twice this.
 */
export const CLOSE_TIMEOUT_MS = 2_000;

/**
 * Whether a `Redlock` is open or closed, and what it still runs in the background: the one place that
 * `close()` stops. While open it tracks background work and timers at little cost; at close it aborts
 * {@link signal} (every waiter listens to it), runs the close hooks (auto-extensions, lock signals), waits
 * for the tracked work up to a deadline, then clears the timers that are left and refuses new ones.
 *
 * open ──begin()──▶ closing ──settle()──▶ closed
 * @internal
 */
export class Lifecycle {
  readonly #clock: Clock;
  readonly #controller = new AbortController();
  /**
   * The close hooks, in the order they were added: the ring of a list whose first and last entries link
   * to it. A list rather than a `Set`: V8 reallocates a `Set`'s table each time it empties, and the one
   * acquisition of a plain loop adds a hook and removes it every time.
   */
  readonly #closeHooks: CloseHookEntry = { hook: () => undefined, previous: undefined, next: undefined };
  readonly #work = new Set<Promise<unknown>>();
  readonly #timers = new Set<unknown>();
  /** How many node calls counted by {@link callStarted} have no outcome yet, by node index. */
  readonly #pendingCalls: number[];
  /** What `settle()` waits on while tracked calls are pending: called as each one ends. */
  #onCallEnded: (() => void) | undefined;
  /** A field rather than the signal's `aborted`: every call reads {@link isClosed}. */
  #state: 'open' | 'closing' | 'closed' = 'open';

  constructor(clock: Clock, nodeCount: number) {
    this.#clock = clock;
    this.#pendingCalls = new Array<number>(nodeCount).fill(0);
    this.#closeHooks.previous = this.#closeHooks.next = this.#closeHooks;
    // Every queued waiter and every vote listens to this one signal: many at once is normal, not a leak.
    setMaxListeners(0, this.#controller.signal);
  }

  /** Aborts when the `Redlock` closes, with a {@link RedlockClosedError}: the signal of every call that waits. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return this.#state !== 'open';
  }

  /**
   * Calls `hook` once, synchronously, when the `Redlock` closes (at once if it already did). Returns the function that
   * removes it: call it when there is nothing left to stop, so the hook does not outlive what it serves.
   */
  onClose(hook: () => void): () => void {
    const entry: CloseHookEntry = { hook, previous: undefined, next: undefined };
    this.#add(entry);
    return () => unlink(entry);
  }

  /** Adds `entry` at the end of the close hooks, or runs it at once if the `Redlock` is closed. */
  #add(entry: CloseHookEntry): void {
    if (this.isClosed) return entry.hook();
    const ring = this.#closeHooks;
    entry.previous = ring.previous;
    entry.next = ring;
    (ring.previous as CloseHookEntry).next = entry;
    ring.previous = entry;
  }

  /**
   * A call that `close()` cuts short: its `promise` settles as the call reports it ({@link GuardedCall.resolved},
   * {@link GuardedCall.rejected}, exactly once), except that it rejects at once, with a
   * {@link RedlockClosedError} for `closed` (see `closedErrorOf`), when the `Redlock` closes first. What the
   * call still yields then is handed to `abandon` (e.g. a lock to release), and `close()` waits for the call
   * and for that, as background work. `dispose` runs once the call reported; `settled` hears how the promise
   * settled, once. The call reports here instead of returning a promise for the guard to follow, so the
   * caller's promise is the only one resolved with the result (each costs every acquisition).
   */
  guardedCall<T>(closed: ClosedCall, abandon: (value: T) => Promise<unknown>, dispose?: () => void, settled?: SettleListener): GuardedCall<T> {
    const call = new GuardedCall(this, closed, abandon, dispose, settled);
    this.#add(call);
    return call;
  }

  /** Counts `work` (which may reject) as background work that `close()` waits for, until it settles. */
  track(work: Promise<unknown>): void {
    if (this.#state === 'closed') return;
    this.#work.add(work);
    const done = (): boolean => this.#work.delete(work);
    work.then(done, done);
  }

  /**
   * Counts one node call to node `nodeIndex` as background work that `close()` waits for, until
   * {@link callEnded} tells its outcome is known: like {@link track}, without a promise (a release's and a
   * cleanup's calls are tracked so, every time; see `FanOut`).
   */
  callStarted(nodeIndex: number): void {
    if (this.#state === 'closed') return;
    this.#pendingCalls[nodeIndex] = (this.#pendingCalls[nodeIndex] as number) + 1;
  }

  /** The outcome of a call counted by {@link callStarted} is known. */
  callEnded(nodeIndex: number): void {
    if (this.#state === 'closed') return;
    this.#pendingCalls[nodeIndex] = (this.#pendingCalls[nodeIndex] as number) - 1;
    this.#onCallEnded?.();
  }

  /**
   * Sets a background timer: unref'd, so it never keeps the process alive, and cleared when `close()`
   * is done waiting. Returns `undefined`, and sets nothing, once it is: the work it would do is given up.
   */
  setTimer(callback: () => void, ms: number): unknown {
    if (this.#state === 'closed') return undefined;
    const handle = this.#clock.setTimeout(() => {
      this.#timers.delete(handle);
      callback();
    }, ms);
    unrefTimer(handle);
    this.#timers.add(handle);
    return handle;
  }

  /** Clears a timer set with {@link setTimer} before it fires. */
  clearTimer(handle: unknown): void {
    if (this.#timers.delete(handle)) this.#clock.clearTimeout(handle);
  }

  /** Begins closing: aborts {@link signal} and runs the close hooks. Calling it again does nothing. */
  begin(): void {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    this.#controller.abort(new RedlockClosedError('The Redlock was closed', { resources: [] }));
    const ring = this.#closeHooks;
    const hooks: CloseHookEntry[] = [];
    // All removed before any runs, so that a hook's remover called later leaves the list alone.
    while (ring.next !== ring) {
      hooks.push(ring.next as CloseHookEntry);
      unlink(ring.next as CloseHookEntry);
    }
    for (const hooked of hooks) hooked.hook();
  }

  /**
   * Waits until no tracked background work is left, or `timeoutMs` passed; then gives up what is left,
   * clears every timer set with {@link setTimer}, and refuses new ones and new work. A call pending on a
   * node for which `isWorthWaitingOn` says no (asked again as calls settle) is not waited for.
   */
  async settle(timeoutMs: number, isWorthWaitingOn: (nodeIndex: number) => boolean): Promise<void> {
    const clock = this.#clock;
    let deadline: unknown;
    const timedOut = new Promise<'timeout'>((resolve) => (deadline = clock.setTimeout(() => resolve('timeout'), timeoutMs)));
    const hasCallsToWaitFor = (): boolean => this.#pendingCalls.some((count, nodeIndex) => count > 0 && isWorthWaitingOn(nodeIndex));
    // Work may start more work (a failed release schedules a re-send): wait until none is left.
    while (this.#work.size > 0 || hasCallsToWaitFor()) {
      const callEnded = hasCallsToWaitFor() ? new Promise<void>((resolve) => (this.#onCallEnded = resolve)) : undefined;
      const first = await Promise.race([Promise.allSettled([...this.#work, callEnded]), timedOut]);
      if (first === 'timeout') break;
    }
    this.#onCallEnded = undefined;
    clock.clearTimeout(deadline);
    this.#state = 'closed';
    this.#work.clear();
    for (const timer of this.#timers) clock.clearTimeout(timer);
    this.#timers.clear();
  }
}

/** A close hook in a {@link Lifecycle}'s list; `previous` and `next` are `undefined` once it was removed. */
interface CloseHookEntry {
  /** Runs at close, as a method of the entry. */
  hook(): void;
  previous: CloseHookEntry | undefined;
  next: CloseHookEntry | undefined;
}

/** Takes `entry` out of its list of close hooks; does nothing once it is out. */
function unlink(entry: CloseHookEntry): void {
  const { previous, next } = entry;
  if (previous === undefined || next === undefined) return;
  previous.next = next;
  next.previous = previous;
  entry.previous = undefined;
  entry.next = undefined;
}

/** What a call that {@link Lifecycle.guardedCall} watches rejects with at close: `closedErrorOf(operation, resources, when)`. */
export interface ClosedCall { readonly operation: string; readonly resources: readonly string[]; readonly when: string }

/**
 * One call that {@link Lifecycle.guardedCall} watches, and its own entry in the close hooks: guarding a
 * call makes no hook closure and no remover (every acquisition is guarded).
 */
export class GuardedCall<T> implements CloseHookEntry {
  previous: CloseHookEntry | undefined = undefined;
  next: CloseHookEntry | undefined = undefined;
  /** What the caller awaits: see {@link Lifecycle.guardedCall}. */
  readonly promise: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (error: unknown) => void;
  /** Set once the `Redlock` closed first; the call's report ends with it the background work that `close()` waits for. */
  #onReportedAfterClose: ((work?: Promise<unknown>) => void) | undefined;
  readonly #lifecycle: Lifecycle;
  readonly #closed: ClosedCall;
  readonly #abandon: (value: T) => Promise<unknown>;
  readonly #dispose: (() => void) | undefined;
  readonly #settled: SettleListener | undefined;

  constructor(lifecycle: Lifecycle, closed: ClosedCall, abandon: (value: T) => Promise<unknown>, dispose: (() => void) | undefined, settled: SettleListener | undefined) {
    this.#lifecycle = lifecycle;
    this.#closed = closed;
    this.#abandon = abandon;
    this.#dispose = dispose;
    this.#settled = settled;
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The `Redlock` closed first: rejects now; `close()` waits for the call to report, and for what `abandon` makes of its result. */
  hook(): void {
    this.#lifecycle.track(new Promise<unknown>((resolve) => (this.#onReportedAfterClose = resolve)));
    const { operation, resources, when } = this.#closed;
    const error = closedErrorOf(operation, resources, when);
    this.#reject(error);
    this.#settled?.onRejected(error);
  }

  /** The call yielded `value`: resolves with it, or hands it to `abandon` if the `Redlock` closed first. */
  resolved(value: T): void {
    unlink(this);
    this.#dispose?.();
    if (this.#onReportedAfterClose !== undefined) return this.#onReportedAfterClose(new Promise((resolve) => resolve(this.#abandon(value))));
    this.#resolve(value);
    this.#settled?.onResolved();
  }

  /** The call failed with `error`: rejects with it, unless the `Redlock` closed first. */
  rejected(error: unknown): void {
    unlink(this);
    this.#dispose?.();
    if (this.#onReportedAfterClose !== undefined) return this.#onReportedAfterClose();
    this.#reject(error);
    this.#settled?.onRejected(error);
  }
}

/** Hears how a promise settled (see {@link Lifecycle.guardedCall}). */
export interface SettleListener { onResolved(): void; onRejected(error: unknown): void }
