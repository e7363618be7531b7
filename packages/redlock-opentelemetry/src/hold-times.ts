// Pairs each release (or loss) with the acquisition it ends, for the hold-time metric. The core's trace
// messages carry no token and no handle, by design, so holds are paired by what they do carry: the
// resources and the primitive, oldest first. That is exact for a resource one process holds once at a
// time (a lock's usual case); for a semaphore held several times at once it pairs in order.

/** One hold that started and has not ended. */
interface OpenHold {
  readonly primitive: string;
  readonly startedAtMs: number;
  /** When it expires unless extended, in `performance.now()` milliseconds: an unwatched lock just expires, and publishes nothing. */
  expiresAtMs: number;
}

/** A hold that ended: what was held, and for how long, in milliseconds. */
export interface EndedHold {
  readonly primitive: string;
  readonly heldMs: number;
}

/** At most this many holds are open at once; past it new ones go untimed, so memory stays bounded. */
const MAX_OPEN_HOLDS = 10_000;

const keyOf = (resources: readonly string[]): string => resources.join('\u0000');

/** The holds open now, by resources; each list oldest first. */
export class HoldTimes {
  readonly #open = new Map<string, OpenHold[]>();
  #count = 0;

  /** Starts a hold of `resources` that expires in `ttlMs` unless extended. */
  start(primitive: string, resources: readonly string[], ttlMs: number | undefined, nowMs: number): void {
    if (this.#count >= MAX_OPEN_HOLDS) this.#forgetExpired(nowMs);
    if (this.#count >= MAX_OPEN_HOLDS) return;
    const key = keyOf(resources);
    const holds = this.#open.get(key) ?? [];
    holds.push({ primitive, startedAtMs: nowMs, expiresAtMs: nowMs + (ttlMs ?? Number.POSITIVE_INFINITY) });
    this.#open.set(key, holds);
    this.#count += 1;
  }

  /** Moves the expiry of the open holds of `resources` to `ttlMs` from now: which one was extended is not known. */
  extend(primitive: string, resources: readonly string[], ttlMs: number | undefined, nowMs: number): void {
    if (ttlMs === undefined) return;
    for (const hold of this.#open.get(keyOf(resources)) ?? []) {
      if (hold.primitive === primitive) hold.expiresAtMs = Math.max(hold.expiresAtMs, nowMs + ttlMs);
    }
  }

  /**
   * Ends the oldest open hold of `resources` (of `primitive`, or of any when it is not known, as for a
   * lost lock) and returns what it was and how long it was held, in milliseconds; `undefined` when none is open.
   */
  end(primitive: string | undefined, resources: readonly string[], nowMs: number): EndedHold | undefined {
    const key = keyOf(resources);
    // Holds that expired unreleased are forgotten here, untimed: their end was never seen.
    const live = (this.#open.get(key) ?? []).filter((hold) => hold.expiresAtMs >= nowMs);
    const index = live.findIndex((hold) => primitive === undefined || hold.primitive === primitive);
    const [ended] = index === -1 ? [] : live.splice(index, 1);
    this.#replace(key, live);
    return ended === undefined ? undefined : { primitive: ended.primitive, heldMs: nowMs - ended.startedAtMs };
  }

  /** How many holds are open. */
  get size(): number {
    return this.#count;
  }

  /** Forgets every open hold. */
  clear(): void {
    this.#open.clear();
    this.#count = 0;
  }

  #forgetExpired(nowMs: number): void {
    for (const [key, holds] of this.#open) this.#replace(key, holds.filter((hold) => hold.expiresAtMs >= nowMs));
  }

  #replace(key: string, kept: OpenHold[]): void {
    this.#count -= (this.#open.get(key)?.length ?? 0) - kept.length;
    if (kept.length === 0) this.#open.delete(key);
    else this.#open.set(key, kept);
  }
}
