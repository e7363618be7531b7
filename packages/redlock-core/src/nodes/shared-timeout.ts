// One deadline for the node calls of a fan-out that share a timeout, on the clock's one timer, with the
// grace a stalled event loop needs.
import type { Clock } from '../base/clock.js';
import { deadlineTimerOf, type DeadlineTimer, type Due } from './deadline-timer.js';

/**
 * How late a timeout timer may fire, in milliseconds, before its calls are owed a fresh window: the larger
 * of 5 ms and a tenth of the timeout. Later than that, the event loop was blocked (a long synchronous task,
 * a GC pause, a paused VM), and a client that sends its commands on a later turn of the loop (node-redis
 * writes on `setImmediate`) may have sent them only after the block: their answers cannot have come yet.
 */
export function stallThresholdMs(timeoutMs: number): number {
  return Math.max(5, timeoutMs / 10);
}

/**
 * One deadline for the node calls that start together with the same timeout (the calls of one fan-out),
 * instead of one per node: when it passes, every call still pending times out. Calls join it
 * synchronously, right after it is created, so each one still times out `timeoutMs` after its own start.
 * It waits on the clock's one {@link DeadlineTimer}, and stops waiting once every call answered.
 *
 * A stalled event loop does not eat the calls' time: when the deadline is found passed by more than
 * {@link stallThresholdMs}, the calls still pending get one more full `timeoutMs` from then, whichever
 * client carries them (one that writes at once, like ioredis, or on a later turn, like node-redis), before
 * they time out. Validity is unaffected: it always counts the whole time from the attempt's start.
 */
export class SharedTimeout implements Due {
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** When the calls started, on `clock`: what their answers' round trips are measured from. */
  readonly startedAtMs: number;
  deadline: number;
  pendingSlot = -1;
  readonly #timer: DeadlineTimer;
  /** The pending calls, by slot; a call that answered leaves `undefined` in its slot. */
  readonly #calls: (TimedCall | undefined)[] = [];
  #pendingCount = 0;
  #hasFired = false;
  /** Whether the deadline already passed late once and gave the pending calls a fresh window. */
  #hasRenewedAfterStall = false;

  /** @param startedAtMs - When the calls start, if the caller just read the clock: it is not read again. */
  constructor(clock: Clock, timeoutMs: number, startedAtMs = clock.now()) {
    this.clock = clock;
    this.timeoutMs = timeoutMs;
    this.startedAtMs = startedAtMs;
    this.deadline = this.startedAtMs + timeoutMs;
    this.#timer = deadlineTimerOf(clock);
  }

  /** Registers a pending call, timed out (`timedOut()`) if it has not answered when the deadline passes. Returns its slot. */
  add(call: TimedCall): number {
    if (this.#pendingCount === 0 && !this.#hasFired) this.#timer.add(this);
    this.#pendingCount += 1;
    return this.#calls.push(call) - 1;
  }

  /** Marks the call in `slot` as answered; the last answer stops the wait. Returns whether it was still pending. */
  remove(slot: number): boolean {
    if (this.#calls[slot] === undefined) return false;
    this.#calls[slot] = undefined;
    this.#pendingCount -= 1;
    if (this.#pendingCount === 0 && !this.#hasFired) this.#timer.delete(this);
    return true;
  }

  expire(now: number): void {
    if (!this.#hasRenewedAfterStall && now - this.deadline > stallThresholdMs(this.timeoutMs)) {
      this.#hasRenewedAfterStall = true;
      this.deadline = now + this.timeoutMs;
      this.#timer.add(this);
      return;
    }
    this.#hasFired = true;
    // After a stalled event loop, Node runs due timers before it reads sockets: give replies that have
    // already arrived one turn of the loop to settle their calls before calling the nodes timed out.
    setImmediate(() => {
      for (const [slot, call] of this.#calls.entries()) {
        if (call === undefined) continue;
        this.#calls[slot] = undefined;
        call.timedOut();
      }
      this.#pendingCount = 0;
    });
  }
}

/** A call bounded by a {@link SharedTimeout}. */
export interface TimedCall {
  /** The timeout fired before the call answered. */
  timedOut(): void;
}
