/**
 * How long a silent node is left alone after a probe timed out before the next probe, in milliseconds, at
 * first; each probe that times out doubles it, up to {@link MAX_PROBE_DELAY_MS}.
 */
export const FIRST_PROBE_DELAY_MS = 250;

/** The longest wait between two probes of a silent node, in milliseconds. */
export const MAX_PROBE_DELAY_MS = 10_000;

/** What {@link CircuitBreaker.admit} says of a new call: send it, send it as the probe, or refuse it. */
export type Admission = 'call' | 'probe' | 'refused';

/**
 * Whether a node answers, judged from its calls. The moment a call passes its deadline with no answer
 * from the node since it was sent (to any call), the node is *silent*: new calls are refused at once,
 * without a command sent, until the node answers anything again. So a node that accepts commands and never
 * answers holds only the calls sent before the first deadline passed, plus its probes; a call that timed
 * out while the node answered others was only given too short a timeout, which its late answer widens.
 *
 * While silent, one call at a time goes out as a probe: the first call after the timeout, then one after
 * each probe that timed out, {@link FIRST_PROBE_DELAY_MS} later at first, doubling up to
 * {@link MAX_PROBE_DELAY_MS}. A probe gets the longest timeout the node may have (see `NodeLatency`).
 *
 * up ──a call times out, nothing answered since it was sent──▶ silent ──a call is admitted as the probe──▶ probing ──any answer──▶ up
 *                          silent ◀──the probe timed out (the next waits twice as long)── probing
 */
export class CircuitBreaker {
  #timeoutsInARow = 0;
  #isProbing = false;
  /** Monotonic time from which the next probe may go out: at once after the first timeout. */
  #probeAt = -Infinity;
  #probeDelayMs = FIRST_PROBE_DELAY_MS;
  /**
   * How many answers the node gave so far: a call that notes it when sent can tell whether the node answered
   * since, with no clock read per answer (one per answer was 10 of a lock's 15 per acquire+release).
   */
  #answerCount = 0;

  /** How many answers the node gave so far: see {@link recordTimeout}. */
  get answerCount(): number {
    return this.#answerCount;
  }

  /** Whether every call is admitted: the node answered its latest call that settled (or has not been called). */
  get isUp(): boolean {
    return this.#timeoutsInARow === 0;
  }

  /** How many calls timed out with no answer from the node since they were sent, since it last answered. */
  get timeoutsInARow(): number {
    return this.#timeoutsInARow;
  }

  /** Milliseconds until the next probe may go out: 0 while up, and when one is due or in flight. */
  probeInMs(now: number): number {
    return this.isUp || this.#isProbing ? 0 : Math.max(0, this.#probeAt - now);
  }

  /**
   * Whether a new call may be sent at `now`: always while up; while silent, only one call at a time, as the
   * probe, once the probe delay has passed.
   */
  admit(now: number): Admission {
    if (this.#timeoutsInARow === 0) return 'call';
    if (this.#isProbing || now < this.#probeAt) return 'refused';
    this.#isProbing = true;
    return 'probe';
  }

  /** The node answered a call, in time or late (an error reply counts: the node is there). */
  recordAnswer(): void {
    this.#answerCount += 1;
    // Nothing to reset on a node that answered its calls so far: the usual answer.
    if (this.#timeoutsInARow === 0) return;
    this.#timeoutsInARow = 0;
    this.#isProbing = false;
    this.#probeAt = -Infinity;
    this.#probeDelayMs = FIRST_PROBE_DELAY_MS;
  }

  /**
   * A call sent when the node had given `answersAtSend` answers ({@link answerCount}) passed its deadline at
   * `now` unanswered; `wasProbe` when it was the probe (see {@link admit}). Returns whether the node is silent
   * for it: no answer came since the call was sent.
   */
  recordTimeout(now: number, answersAtSend: number, wasProbe: boolean): boolean {
    if (this.#answerCount > answersAtSend) return false;
    this.#timeoutsInARow += 1;
    if (wasProbe && this.#isProbing) {
      this.#isProbing = false;
      this.#probeAt = now + this.#probeDelayMs;
      this.#probeDelayMs = Math.min(MAX_PROBE_DELAY_MS, this.#probeDelayMs * 2);
    }
    return true;
  }
}
