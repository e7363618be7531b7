// Pairs each release (or loss) with the acquisition it ends, for the hold-time metric, by the hold's id:
// redlock-core names each hold in its payloads (`holdId` on an acquisition's result, an extension's and a
// release's context, a loss), the same from its acquisition to its release or loss, so the pairing is
// exact for every primitive, semaphores held several times at once included.

/** One hold that started and has not ended. */
interface OpenHold {
  readonly primitive: string;
  readonly startedAtMs: number;
}

/** A hold that ended: what was held, and for how long, in milliseconds. */
export interface EndedHold {
  readonly primitive: string;
  readonly heldMs: number;
}

/**
 * At most this many holds are open at once: past it the oldest is forgotten, untimed. A lock that expires
 * unreleased and unwatched publishes nothing, so its hold would stay open for good without a bound.
 */
export const MAX_OPEN_HOLDS = 10_000;

/** The holds open now, by hold id, oldest first (a `Map` keeps insertion order). */
export class HoldTimes {
  readonly #open = new Map<number, OpenHold>();

  /** Starts timing hold `holdId` of `primitive`, acquired at `nowMs`; a hold already open keeps its start. */
  start(holdId: number, primitive: string, nowMs: number): void {
    if (this.#open.has(holdId)) return;
    if (this.#open.size >= MAX_OPEN_HOLDS) {
      const [oldest] = this.#open.keys();
      if (oldest !== undefined) this.#open.delete(oldest);
    }
    this.#open.set(holdId, { primitive, startedAtMs: nowMs });
  }

  /** Ends hold `holdId` at `nowMs`: what it was and how long it was held, in milliseconds; `undefined` when it is not open. */
  end(holdId: number, nowMs: number): EndedHold | undefined {
    const hold = this.#open.get(holdId);
    if (hold === undefined) return undefined;
    this.#open.delete(holdId);
    return { primitive: hold.primitive, heldMs: nowMs - hold.startedAtMs };
  }

  /** How many holds are open. */
  get size(): number {
    return this.#open.size;
  }

  /** Forgets every open hold. */
  clear(): void {
    this.#open.clear();
  }
}
