import type { Clock } from '../base/clock.js';

/** Something due at a time on a clock: a {@link DeadlineTimer} calls `expire()` once `deadline` has passed. */
export interface Due {
  /** When it is due, on the clock. */
  readonly deadline: number;
  /** The timer's own bookkeeping, which only it writes: the slot in its pending list, or -1 (to start with). */
  pendingSlot: number;
  /**
   * Whether it belongs to an operation a caller awaits: while one is pending, the timer keeps the process
   * alive, so that it settles even when no connection is left to do so. Background work never does.
   */
  readonly isAwaited: boolean;
  /** Called once the deadline has passed (late when the event loop was blocked), with the clock's time then. */
  expire(now: number): void;
}

/**
 * How late a timeout timer may fire, in milliseconds, before its calls are owed a fresh window: later, the
 * event loop was blocked, and a client that writes on a later turn of the loop (node-redis, on
 * `setImmediate`) may have sent its commands only after the block.
 */
export function stallThresholdMs(timeoutMs: number): number {
  return Math.max(5, timeoutMs / 10);
}

/**
 * One timer for every pending deadline on a clock, armed for the earliest, instead of a timer per
 * deadline: deadlines are rarely reached, and `setTimeout()` with `clearTimeout()` was about 14% of the
 * core's instructions per acquire+release (bench/RESULTS.md). Passed deadlines expire in their order.
 *
 * A Node timer keeps the process alive only while an awaited deadline is pending. While nothing is
 * pending, it stays armed but unref'd, so the next deadline usually needs no new timer; a timer of
 * another clock (a virtual one in tests) is cleared, so that none is left behind.
 */
export class DeadlineTimer {
  readonly #clock: Clock;
  /** The pending deadlines, each knowing its slot: a list, as V8 reallocates a `Set`'s table each time it empties. */
  readonly #pending: Due[] = [];
  #timer: unknown;
  /** The armed timer when it is Node's, which can be unref'd and ref'd again. */
  #nodeTimer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for; `Infinity` when none is armed. */
  #armedFor = Infinity;
  #awaitedCount = 0;
  /** Whether the armed timer keeps the process alive (a Node timer is ref'd when set). */
  #isHolding = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Starts waiting for `due`'s deadline. */
  add(due: Due): void {
    if (due.pendingSlot !== -1) return;
    due.pendingSlot = this.#pending.push(due) - 1;
    if (due.isAwaited) this.#awaitedCount += 1;
    if (due.deadline < this.#armedFor) this.#arm(due.deadline);
    else this.#hold();
  }

  /** Stops waiting for `due`, which no longer has anything to expire. */
  delete(due: Due): void {
    if (!this.#remove(due)) return;
    if (this.#pending.length > 0 || this.#nodeTimer !== undefined) return this.#hold();
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  /** Makes a Node timer keep the process alive while a pending deadline is awaited, and only then. */
  #hold(): void {
    const isAwaited = this.#awaitedCount > 0;
    if (this.#isHolding === isAwaited) return;
    this.#isHolding = isAwaited;
    if (isAwaited) this.#nodeTimer?.ref();
    else this.#nodeTimer?.unref();
  }

  /** Takes `due` out of the pending list, moving the last one into its slot; returns whether it was pending. */
  #remove(due: Due): boolean {
    const slot = due.pendingSlot;
    if (slot === -1) return false;
    due.pendingSlot = -1;
    if (due.isAwaited) this.#awaitedCount -= 1;
    const last = this.#pending.pop() as Due;
    if (last !== due) {
      this.#pending[slot] = last;
      last.pendingSlot = slot;
    }
    return true;
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#armedFor = deadline;
    const timer = this.#clock.setTimeout(this.#fire, Math.max(0, deadline - this.#clock.now()));
    this.#timer = timer;
    this.#nodeTimer = isUnrefable(timer) ? timer : undefined;
    this.#isHolding = true;
    this.#hold();
  }

  readonly #fire = (): void => {
    const armedFor = this.#armedFor;
    this.#timer = undefined;
    this.#nodeTimer = undefined;
    this.#armedFor = Infinity;
    this.#isHolding = false;
    const now = this.#clock.now();
    // The timer ran its course, so the deadline it was armed for has passed, even if the clock reads a
    // little earlier (Node's timers count from the loop's cached time) or was stepped back meanwhile.
    const reached = Math.max(now, armedFor);
    const passed = this.#pending.filter((due) => due.deadline <= reached);
    for (const due of passed) this.#remove(due);
    passed.sort((a, b) => a.deadline - b.deadline);
    // An expiry may add a deadline again (a fresh window after a stall), which arms the timer.
    for (const due of passed) due.expire(now);
    let earliest = Infinity;
    for (const due of this.#pending) earliest = Math.min(earliest, due.deadline);
    // An expiry that waits again armed the timer for its own deadline, which another may precede. From the
    // clock's time, not `reached`: else a timer that fires early carries its earliness into the next ones.
    if (earliest < this.#armedFor) this.#arm(earliest);
  };
}

/** Whether a timer handle is Node's, which can stop keeping the process alive and start again. */
function isUnrefable(timer: unknown): timer is NodeJS.Timeout {
  return typeof timer === 'object' && timer !== null && typeof (timer as Partial<NodeJS.Timeout>).unref === 'function' && typeof (timer as Partial<NodeJS.Timeout>).ref === 'function';
}

const timersByClock = new WeakMap<Clock, DeadlineTimer>();

/** The clock of the latest {@link deadlineTimerOf} call and its timer: most processes have one clock. */
let latest: { readonly clock: Clock; readonly timer: DeadlineTimer } | undefined;

/** The one {@link DeadlineTimer} of `clock`, shared by every `Redlock` on it. */
export function deadlineTimerOf(clock: Clock): DeadlineTimer {
  if (latest?.clock !== clock) {
    let timer = timersByClock.get(clock);
    if (timer === undefined) timersByClock.set(clock, (timer = new DeadlineTimer(clock)));
    latest = { clock, timer };
  }
  return latest.timer;
}
