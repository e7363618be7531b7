import type { Contender, Release } from '../contenders/contender.js';
import { LatencySamples } from '../measure/latency-samples.js';
import { settleWithin } from '../settle-within.js';

/** What {@link runBoundedLoop} measured over one sample. */
export interface BoundedLoopOutcome {
  /** Completed acquire+release cycles. */
  readonly cycles: number;
  /** Acquire or release calls that rejected. */
  readonly errors: number;
  /** Acquire or release calls still pending after the time bound, abandoned. */
  readonly timeouts: number;
  /** The first rejection's message, if any. */
  readonly firstError: string | undefined;
  /** Per completed cycle: from calling acquire() until it resolved, in milliseconds. */
  readonly acquireLatency: LatencySamples;
  /** Per completed cycle: from calling acquire() until release() resolved, in milliseconds. */
  readonly cycleLatency: LatencySamples;
  /**
   * Calls to `answeringNodes` that the library judged timed out, from its `nodeTimeoutsInARow()` read after
   * every acquire and release (a lower bound: a timed-out call whose late answer came before the read is
   * missed); `NaN` when the library does not tell.
   */
  readonly misjudgedTimeouts: number;
}

/**
 * One acquire+release loop on one resource, like S1's, but every call bounded by `opTimeoutMs`: a call
 * still pending then is counted as timed out and abandoned, so a library that waits for a node that never
 * answers cannot stall the run. An abandoned acquire that resolves later is released in the background,
 * and the loop goes on with a fresh resource name, so a late lock never contends with the next cycle.
 */
export async function runBoundedLoop(options: {
  readonly contender: Contender;
  readonly resource: string;
  readonly durationMs: number;
  readonly opTimeoutMs: number;
  /** The nodes whose calls should never time out (the others are black-holed). */
  readonly answeringNodes: readonly number[];
}): Promise<BoundedLoopOutcome> {
  const { contender, durationMs, opTimeoutMs, answeringNodes } = options;
  const acquireLatency = new LatencySamples();
  const cycleLatency = new LatencySamples();
  let cycles = 0;
  let errors = 0;
  let timeouts = 0;
  let firstError: string | undefined;
  let generation = 0;
  let resource = options.resource;
  const misjudged = new MisjudgedTimeouts(contender, answeringNodes);

  const fail = (error: unknown): void => {
    errors += 1;
    firstError ??= error instanceof Error ? error.message : String(error);
  };
  const abandon = (): void => {
    timeouts += 1;
    generation += 1;
    resource = `${options.resource}:${generation}`;
  };

  const deadline = performance.now() + durationMs;
  while (performance.now() < deadline) {
    const begin = performance.now();
    const acquiring = contender.acquire(resource);
    const acquired = await settleWithin(acquiring, opTimeoutMs);
    misjudged.read();
    if (acquired.status === 'timed-out') {
      abandon();
      acquiring.then((release: Release) => release().catch(() => undefined), () => undefined);
      continue;
    }
    if (acquired.status === 'rejected') {
      fail(acquired.reason);
      continue;
    }
    const acquiredAt = performance.now();
    const released = await settleWithin(acquired.value(), opTimeoutMs);
    misjudged.read();
    if (released.status === 'timed-out') {
      abandon();
      continue;
    }
    if (released.status === 'rejected') {
      fail(released.reason);
      continue;
    }
    cycles += 1;
    acquireLatency.add(acquiredAt - begin);
    cycleLatency.add(performance.now() - begin);
  }
  return { cycles, errors, timeouts, firstError, acquireLatency, cycleLatency, misjudgedTimeouts: misjudged.count };
}

/** Counts the rises of a contender's per-node timeouts-in-a-row on the answering nodes, read after each call. */
class MisjudgedTimeouts {
  count: number;
  readonly #contender: Contender;
  readonly #nodes: readonly number[];
  #last: readonly number[] = [];

  constructor(contender: Contender, nodes: readonly number[]) {
    this.#contender = contender;
    this.#nodes = nodes;
    this.count = contender.nodeTimeoutsInARow === undefined ? Number.NaN : 0;
    // What earlier samples left is not this sample's.
    this.#last = contender.nodeTimeoutsInARow?.() ?? [];
  }

  read(): void {
    const now = this.#contender.nodeTimeoutsInARow?.();
    if (now === undefined) return;
    for (const index of this.#nodes) {
      const current = now[index] ?? 0;
      const previous = this.#last[index] ?? 0;
      // A count below the last one was reset by an answer in between: all of it is new.
      this.count += current >= previous ? current - previous : current;
    }
    this.#last = now;
  }
}
