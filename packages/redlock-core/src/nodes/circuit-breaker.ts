/** How many calls to a node must time out in a row, unanswered (see {@link unansweredAfterMs}), before it counts as down. */
export const TIMEOUTS_BEFORE_DOWN = 3;

/**
 * How long after its start a call that timed out may still be answered and count as answered for its node,
 * in milliseconds, under the adaptive timeout: 12 × the shortest timeout (50 ms, for a TTL up to 10 s), so a
 * near node that steps to a round trip of up to about 500 ms (another continent) is measured by its late
 * answer, which widens its next timeouts, instead of counted down (with a 400 ms window, a node stepping
 * to 400 ms answered in 400-440 ms and was still counted down); and short enough that a node that stopped
 * answering still counts as down well within a second.
 */
export const LATE_ANSWER_WINDOW_MS = 600;

/**
 * How long after its start a call with an adaptive timeout of `timeoutMs` may still be answered, late, and
 * count as answered for its node, in milliseconds: {@link LATE_ANSWER_WINDOW_MS}, or the timeout itself
 * when longer. The call's outcome is still a timeout at `timeoutMs`: this only decides whether the node
 * answered at all, so that a node that slowed down is measured (its late answer widens its timeout) rather
 * than counted down. A node whose calls time out in a row counts as down no earlier than this long after
 * the first of them started.
 */
export function unansweredAfterMs(timeoutMs: number): number {
  return Math.max(timeoutMs, LATE_ANSWER_WINDOW_MS);
}

/**
 * How long a down node is left alone before one call probes it, in milliseconds. Each probe that times
 * out doubles the wait, up to {@link MAX_PROBE_DELAY_MS}.
 */
export const FIRST_PROBE_DELAY_MS = 250;

/** The longest wait between two probes of a down node, in milliseconds. */
export const MAX_PROBE_DELAY_MS = 10_000;

/**
 * Whether a node answers, judged from its calls: once {@link TIMEOUTS_BEFORE_DOWN} calls in a row timed out
 * and the first of them got no answer either by its verdict time ({@link unansweredAfterMs} after its start
 * under the adaptive timeout, its timeout under a fixed one; an answer by then, even late, counts as an
 * answer: the node is slow, not gone), the node is down and new calls are refused at once, without a
 * command sent, so a node that accepts commands and never answers cannot pile up pending commands (and
 * the memory they hold) in the client, and no attempt waits for it. While down, one call at a time is let through as a probe, first after
 * {@link FIRST_PROBE_DELAY_MS}, then at doubling intervals; any answer to it brings the node back up.
 *
 * up ──3 timeouts in a row, the first unanswered by its verdict time──▶ down ──probe delay passed──▶ probing ──answer──▶ up
 *                                                                   down ◀──probe timed out (delay doubles)── probing
 */
export class CircuitBreaker {
  #timeoutsInARow = 0;
  /** Monotonic time from which a probe may go out; `undefined` while up. */
  #probeAt: number | undefined;
  #probeDelayMs = FIRST_PROBE_DELAY_MS;
  #isProbing = false;
  /**
   * While calls time out in a row: the verdict time of the first of them, from which the node counts as
   * down once {@link TIMEOUTS_BEFORE_DOWN} did, unless an answer comes first; `Infinity` otherwise.
   */
  #downAtMs = Infinity;

  /**
   * Whether every call is admitted now, without asking the clock: the usual case, a node that is up and
   * has not timed out {@link TIMEOUTS_BEFORE_DOWN} times in a row.
   */
  get isUp(): boolean {
    return this.#probeAt === undefined && this.#timeoutsInARow < TIMEOUTS_BEFORE_DOWN;
  }

  /** Whether the node counted as down when last asked with the time ({@link isDownAt}, {@link admits}) or at its last timeout. */
  get isDown(): boolean {
    return this.#probeAt !== undefined;
  }

  /** Whether the node counts as down at `now`. */
  isDownAt(now: number): boolean {
    this.#judge(now);
    return this.#probeAt !== undefined;
  }

  /** How many calls in a row timed out, until one is answered (late answers included, see {@link unansweredAfterMs}). */
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
    this.#judge(now);
    if (this.#probeAt === undefined) return true;
    if (this.#isProbing || now < this.#probeAt) return false;
    this.#isProbing = true;
    return true;
  }

  /**
   * A call was answered: within its timeout (an error reply counts: the node is there), or a call that
   * timed out was answered before it counted as unanswered.
   */
  recordAnswer(): void {
    // Nothing to reset on a node that is up without a timeout since its last answer: the usual answer.
    if (this.#timeoutsInARow === 0 && this.#probeAt === undefined) return;
    this.#timeoutsInARow = 0;
    this.#probeAt = undefined;
    this.#isProbing = false;
    this.#probeDelayMs = FIRST_PROBE_DELAY_MS;
    this.#downAtMs = Infinity;
  }

  /**
   * A call timed out at `now`; unless the node answers by `verdictAtMs` (its start + {@link unansweredAfterMs}
   * under the adaptive timeout, `now` under a fixed one), it counts towards the node being down.
   */
  recordTimeout(now: number, verdictAtMs = now): void {
    this.#timeoutsInARow += 1;
    if (this.#isProbing) {
      this.#isProbing = false;
      this.#probeDelayMs = Math.min(MAX_PROBE_DELAY_MS, this.#probeDelayMs * 2);
      this.#probeAt = now + this.#probeDelayMs;
    } else if (this.#probeAt === undefined) {
      this.#downAtMs = Math.min(this.#downAtMs, verdictAtMs);
      this.#judge(now);
    }
  }

  /** Counts the node down once enough calls timed out in a row and the first one's verdict time passed. */
  #judge(now: number): void {
    if (this.#probeAt !== undefined || this.#timeoutsInARow < TIMEOUTS_BEFORE_DOWN || now < this.#downAtMs) return;
    this.#probeAt = Math.max(now, this.#downAtMs) + this.#probeDelayMs;
  }
}
