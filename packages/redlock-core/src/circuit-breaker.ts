import { ADAPTIVE_TIMEOUT_MAX_MS } from './node-latency.js';

/** How many calls to a node must go unanswered in a row (see {@link unansweredAfterMs}) before it counts as down. */
export const TIMEOUTS_BEFORE_DOWN = 3;

/**
 * How many of its timeouts a call that timed out may still wait for its answer before it counts against
 * its node: a near node measured at the 50 ms floor that steps to a 300-400 ms round trip answers within
 * 8 × 50 ms, and its late answer widens the next timeouts instead of counting the node down.
 */
export const UNANSWERED_AFTER_TIMEOUTS = 8;

/**
 * How long after its start a call with a timeout of `timeoutMs` may go without any answer before it counts
 * against its node, in milliseconds: {@link UNANSWERED_AFTER_TIMEOUTS} timeouts, at most
 * {@link ADAPTIVE_TIMEOUT_MAX_MS} (an answer later than the longest adaptive timeout could never be waited
 * for, so such a node is as good as down), never less than the timeout itself. The call's outcome is still
 * a timeout at `timeoutMs`: this only decides whether the node answered at all, so that a node that slowed
 * down is measured (its late answer widens its timeout) rather than counted down.
 */
export function unansweredAfterMs(timeoutMs: number): number {
  return Math.max(timeoutMs, Math.min(ADAPTIVE_TIMEOUT_MAX_MS, UNANSWERED_AFTER_TIMEOUTS * timeoutMs));
}

/**
 * How long a down node is left alone before one call probes it, in milliseconds. Each probe that times
 * out doubles the wait, up to {@link MAX_PROBE_DELAY_MS}.
 */
export const FIRST_PROBE_DELAY_MS = 250;

/** The longest wait between two probes of a down node, in milliseconds. */
export const MAX_PROBE_DELAY_MS = 10_000;

/**
 * Whether a node answers, judged from its calls: after {@link TIMEOUTS_BEFORE_DOWN} calls in a row got no
 * answer within {@link unansweredAfterMs} (a call that timed out and is answered later counts as answered:
 * the node is slow, not gone), the node is down and new calls are refused at once, without a command sent, so a node that accepts
 * commands and never answers cannot pile up pending commands (and the memory they hold) in the client,
 * and no attempt waits for it. While down, one call at a time is let through as a probe, first after
 * {@link FIRST_PROBE_DELAY_MS}, then at doubling intervals; any answer to it brings the node back up.
 *
 * up ──3 calls unanswered in a row──▶ down ──probe delay passed──▶ probing ──answer──▶ up
 *                                     down ◀──probe unanswered (delay doubles)── probing
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

  /** How many calls in a row went unanswered, until one is answered. */
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

  /**
   * A call was answered: within its timeout (an error reply counts: the node is there), or a call that
   * timed out was answered before it counted as unanswered.
   */
  recordAnswer(): void {
    this.#timeoutsInARow = 0;
    this.#probeAt = undefined;
    this.#isProbing = false;
    this.#probeDelayMs = FIRST_PROBE_DELAY_MS;
  }

  /** A call went unanswered (no answer within {@link unansweredAfterMs} of its start), found at `now`. */
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
