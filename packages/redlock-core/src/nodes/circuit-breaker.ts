/** How many calls to a node must time out in a row before it counts as down. */
export const TIMEOUTS_BEFORE_DOWN = 3;

/**
 * How long a down node is left alone before one call probes it, in milliseconds. Each probe that times
 * out doubles the wait, up to {@link MAX_PROBE_DELAY_MS}.
 */
export const FIRST_PROBE_DELAY_MS = 250;

/** The longest wait between two probes of a down node, in milliseconds. */
export const MAX_PROBE_DELAY_MS = 10_000;

/**
 * Whether a node answers, judged from its calls: after {@link TIMEOUTS_BEFORE_DOWN} calls in a row time
 * out, the node is down and new calls are refused at once, without a command sent, so a node that accepts
 * commands and never answers cannot pile up pending commands (and the memory they hold) in the client,
 * and no attempt waits for it. While down, one call at a time is let through as a probe, first after
 * {@link FIRST_PROBE_DELAY_MS}, then at doubling intervals; any answer in time brings the node back up.
 *
 * up ──3 timeouts in a row──▶ down ──probe delay passed──▶ probing ──answer──▶ up
 *                             down ◀──probe timed out (delay doubles)── probing
 */
export class CircuitBreaker {
  #timeoutsInARow = 0;
  /** Monotonic time from which a probe may go out; `undefined` while up. */
  #probeAt: number | undefined;
  #probeDelayMs = FIRST_PROBE_DELAY_MS;
  #isProbing = false;

  /** Whether every call is admitted now, without asking the clock: the usual case, a node that is up. */
  get isUp(): boolean {
    return this.#probeAt === undefined;
  }

  /** Whether the node counts as down. */
  get isDown(): boolean {
    return this.#probeAt !== undefined;
  }

  /** How many calls in a row timed out, until one is answered. */
  get timeoutsInARow(): number {
    return this.#timeoutsInARow;
  }

  /** Milliseconds until the next probe may go out: 0 while up or when one is due or in flight. */
  probeInMs(now: number): number {
    return this.#probeAt === undefined || this.#isProbing ? 0 : Math.max(0, this.#probeAt - now);
  }

  /**
   * Whether a new call may be sent at `now`: always while up; while down, only the one call that becomes
   * the probe once the probe delay has passed.
   */
  admits(now: number): boolean {
    if (this.#probeAt === undefined) return true;
    if (this.#isProbing || now < this.#probeAt) return false;
    this.#isProbing = true;
    return true;
  }

  /** A call was answered within its timeout (an error reply counts: the node is there). */
  recordAnswer(): void {
    this.#timeoutsInARow = 0;
    this.#probeAt = undefined;
    this.#isProbing = false;
    this.#probeDelayMs = FIRST_PROBE_DELAY_MS;
  }

  /** A call timed out at `now`. */
  recordTimeout(now: number): void {
    this.#timeoutsInARow += 1;
    if (this.#isProbing) {
      this.#isProbing = false;
      this.#probeDelayMs = Math.min(MAX_PROBE_DELAY_MS, this.#probeDelayMs * 2);
      this.#probeAt = now + this.#probeDelayMs;
    } else if (this.#probeAt === undefined && this.#timeoutsInARow >= TIMEOUTS_BEFORE_DOWN) {
      this.#probeAt = now + this.#probeDelayMs;
    }
  }
}
