import type { Clock } from '../../src/index.js';

/** One scheduled callback; timers due at the same time run in the order they were set. */
interface Timer {
  readonly id: number;
  readonly dueAtMs: number;
  readonly callback: () => void;
}

/**
 * Lets every promise callback queued so far run, including the ones they queue in turn: a macrotask
 * (`setImmediate`) only runs once the microtask queue is empty. The core schedules nothing on real
 * timers, so two rounds are plenty.
 */
export async function flushPromises(): Promise<void> {
  for (let round = 0; round < 2; round += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

function nextMacrotask(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** More timers than any scenario needs in one step: beyond it, something spins at one instant. */
const MAX_TIMERS_PER_ADVANCE = 10_000;

/**
 * A virtual {@link Clock}: time stands still until a test advances it, and then due timers run in order,
 * with promise callbacks flushed after each one, so a whole Redlock scenario runs in microseconds of
 * real time and always the same way.
 *
 * Its methods use `this`, like any class, so it also proves that the core calls them as methods.
 */
export class FakeClock implements Clock {
  #nowMs = 0;
  /** Wall time minus monotonic time; moved by {@link jumpWallClock}. */
  #wallOffsetMs: number;
  #nextTimerId = 1;
  readonly #timers = new Map<number, Timer>();

  /** @param wallStartMs - What `wallNow()` returns while `now()` is 0. */
  constructor(wallStartMs = 1_700_000_000_000) {
    this.#wallOffsetMs = wallStartMs;
  }

  now(): number {
    return this.#nowMs;
  }

  wallNow(): number {
    return this.#wallOffsetMs + this.#nowMs;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextTimerId++;
    this.#timers.set(id, { id, dueAtMs: this.#nowMs + Math.max(0, ms), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** How many timers are scheduled and not yet run or cleared. */
  get pendingTimerCount(): number {
    return this.#timers.size;
  }

  /** The handles of the timers scheduled and not yet run or cleared, in the order they were set. */
  get pendingTimerIds(): number[] {
    return [...this.#timers.keys()];
  }

  /** Sets the wall clock forward or back by `ms` (an NTP step); monotonic time does not move. */
  jumpWallClock(ms: number): void {
    this.#wallOffsetMs += ms;
  }

  /**
   * Moves time forward by `ms` without running any timer, like an event loop blocked by a long
   * synchronous task: overdue timers run, in order of due time, on the next `advance()`.
   */
  stall(ms: number): void {
    this.#nowMs += ms;
  }

  /**
   * Moves time forward by `ms`, running every timer that falls due on the way, at its due time, and
   * flushing promise callbacks after each one.
   */
  async advance(ms: number): Promise<void> {
    const targetMs = this.#nowMs + ms;
    let timersRun = 0;
    await flushPromises();
    // A stall() inside a callback moves time past the target: the timers it made overdue run too.
    const isDue = (timer: Timer): boolean => timer.dueAtMs <= Math.max(targetMs, this.#nowMs);
    for (let next = this.#nextTimer(); next !== undefined && isDue(next); next = this.#nextTimer()) {
      if (++timersRun > MAX_TIMERS_PER_ADVANCE) {
        throw new Error(`Ran ${MAX_TIMERS_PER_ADVANCE} timers without reaching ${targetMs} ms: something reschedules itself without a pause (now ${this.#nowMs} ms)`);
      }
      this.#nowMs = Math.max(this.#nowMs, next.dueAtMs);
      this.#timers.delete(next.id);
      next.callback();
      await flushPromises();
    }
    this.#nowMs = Math.max(this.#nowMs, targetMs);
    await flushPromises();
  }

  /**
   * Runs timers one after another until `promise` settles, and returns it (so a rejection rejects).
   * Fails with "never settles" when the promise is still pending and no timer is left that could settle
   * it: this is how a test proves that an operation cannot hang. `limitMs` of virtual time stops a
   * scenario that keeps scheduling timers for ever (e.g. auto-extension).
   */
  async runUntilSettled<T>(promise: Promise<T>, limitMs = 3_600_000): Promise<T> {
    return this.#runTimersUntilSettled(promise, limitMs, flushPromises, (next) =>
      this.advance(Math.max(0, next.dueAtMs - this.#nowMs)),
    );
  }

  /**
   * Like {@link runUntilSettled}, but flushes promise callbacks once after each timer instead of around
   * every step: the same order of events, several times faster, for simulations that run thousands of
   * timers. One macrotask is enough, as Node runs every queued promise callback before the next one.
   */
  async runQuicklyUntilSettled<T>(promise: Promise<T>, limitMs = 3_600_000): Promise<T> {
    return this.#runTimersUntilSettled(promise, limitMs, nextMacrotask, async (next) => {
      this.#nowMs = Math.max(this.#nowMs, next.dueAtMs);
      this.#timers.delete(next.id);
      next.callback();
      await nextMacrotask();
    });
  }

  /** Runs the next timer with `runTimer` until `promise` settles; see {@link runUntilSettled}. */
  async #runTimersUntilSettled<T>(
    promise: Promise<T>,
    limitMs: number,
    flush: () => Promise<void>,
    runTimer: (next: Timer) => Promise<void>,
  ): Promise<T> {
    let isSettled = false;
    const observed = promise.then(
      () => {
        isSettled = true;
      },
      () => {
        isSettled = true;
      },
    );
    const deadlineMs = this.#nowMs + limitMs;
    // Virtual time only moves when a timer is due later: timers that keep falling due at one instant
    // would never reach the limit above, so they are counted.
    let instantMs = this.#nowMs;
    let timersAtInstant = 0;
    await flush();
    while (!isSettled) {
      const next = this.#nextTimer();
      if (next === undefined) {
        throw new Error(`The promise never settles: it is still pending at ${this.#nowMs} ms and no timer is left to run`);
      }
      if (next.dueAtMs > deadlineMs) {
        throw new Error(`The promise did not settle within ${limitMs} ms of virtual time`);
      }
      if (next.dueAtMs > instantMs) {
        instantMs = next.dueAtMs;
        timersAtInstant = 0;
      } else if (++timersAtInstant > MAX_TIMERS_PER_ADVANCE) {
        throw new Error(`Ran ${MAX_TIMERS_PER_ADVANCE} timers at ${this.#nowMs} ms: something reschedules itself without a pause`);
      }
      await runTimer(next);
    }
    await observed;
    return promise;
  }

  #nextTimer(): Timer | undefined {
    let earliest: Timer | undefined;
    for (const timer of this.#timers.values()) {
      if (earliest === undefined || timer.dueAtMs < earliest.dueAtMs) earliest = timer;
    }
    return earliest;
  }
}

/**
 * `clock`, but its timers fire a ten-thousandth of a millisecond early, as Node's may: they count from the
 * event loop's cached time, in whole milliseconds, so `performance.now()` can read a little short of the
 * deadline a timer was set for.
 */
export function earlyTimersOf(clock: FakeClock): Clock {
  return {
    now: () => clock.now(),
    wallNow: () => clock.wallNow(),
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms - 1e-4),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}
