// Durations longer than the core's longest TTL (2³¹−1 ms, about 24.8 days), which node-redlock takes: its
// own suite locks for 28,500 years. The core refuses them, as its timers (validity, extensions) cannot hold
// them. So the core gets a stand-in TTL within its range, and this package's adapters send the real duration
// to Redis in its place: the keys live as long as asked, and every decision is still the core's (quorum,
// cleanup of failed attempts, release). The core's timers run on the stand-in, which is shorter than the
// real duration: the core never counts on validity that the keys do not have. The compat layer makes up for
// what the core then knows less of: a lock's `expiration` comes from the real duration, an extension past
// the core's validity takes the lock over by its value, and `using()` extends before that validity ends.
import { MAX_TTL_MS } from 'redlock-core';
import { IoredisAdapter } from 'redlock-ioredis-adapter';

/**
 * How many stand-ins can be in use at once. The top this many TTLs the core takes (from about 24.84 days
 * on) are kept for them: a duration there goes through a stand-in too, so that any TTL the adapters see in
 * that range is one.
 */
const STAND_IN_COUNT = 2 ** 20;

/** The shortest duration that goes to the core through a stand-in, in milliseconds. */
export const FIRST_STAND_IN_MS = MAX_TTL_MS - STAND_IN_COUNT + 1;

/**
 * How long a stand-in stays known after the call that used it settled, in milliseconds. The core may still
 * send it then to a node that answers late, within that node's timeout (at most 1 s, renewed once): the
 * acquire script after a late `SET` reply, a re-seed after an extension. Later than this, the adapter
 * fails the call rather than send a stand-in to Redis as a TTL.
 */
const STAND_IN_GRACE_MS = 10_000;

/** The longest duration a call takes, in milliseconds: longer ones would reach Redis as imprecise or exponent-notation numbers. */
export const MAX_DURATION_MS = Number.MAX_SAFE_INTEGER;

/** Whether a call for `durationMs` gives the core a stand-in instead (see {@link StandInTtls}). */
export function needsStandIn(durationMs: number): boolean {
  return durationMs >= FIRST_STAND_IN_MS;
}

/** Whether `ttl`, as the core sends it, is in the range kept for stand-ins. */
function isInStandInRange(ttl: string): boolean {
  const ms = Number(ttl);
  return ms >= FIRST_STAND_IN_MS && ms <= MAX_TTL_MS;
}

/** The stand-in TTLs in use by one compat `Redlock`, each with the duration it stands for. */
export class StandInTtls {
  /** Whether a stand-in was ever taken: until then, the adapters pass every call on untouched. */
  isUsed = false;
  /** Each stand-in in use, as the core sends it (a decimal string), with the duration it stands for. */
  readonly #durations = new Map<string, string>();
  /** The offset in the range of the next stand-in to try. */
  #next = 0;

  /**
   * A stand-in TTL for `durationMs`, known until {@link release} and its grace.
   * @throws `RangeError` when every stand-in is in use: over a million calls with long durations at once.
   */
  take(durationMs: number): number {
    for (let tried = 0; tried < STAND_IN_COUNT; tried += 1) {
      const standIn = FIRST_STAND_IN_MS + this.#next;
      this.#next = (this.#next + 1) % STAND_IN_COUNT;
      if (this.#durations.has(String(standIn))) continue;
      this.#durations.set(String(standIn), String(durationMs));
      this.isUsed = true;
      return standIn;
    }
    throw new RangeError(`Too many calls with durations of ${FIRST_STAND_IN_MS} ms or more at once (${STAND_IN_COUNT}): use shorter durations, or fewer calls at a time`);
  }

  /** The call that took `standIn` settled: it is forgotten once its grace passed. */
  release(standIn: number): void {
    setTimeout(() => this.#durations.delete(String(standIn)), STAND_IN_GRACE_MS).unref();
  }

  /**
   * `ttl` as Redis must get it: the duration a stand-in stands for, or any other TTL as it is.
   * @throws `Error` for a stand-in no longer known, which must not reach Redis as a TTL.
   */
  durationOf(ttl: string): string {
    const duration = this.#durations.get(ttl);
    if (duration !== undefined) return duration;
    if (isInStandInRange(ttl)) throw new Error(`The stand-in TTL ${ttl} ms is no longer in use: the call came more than ${STAND_IN_GRACE_MS} ms after the operation that sent it`);
    return ttl;
  }
}

/** An `IoredisAdapter` that sends Redis the duration of each stand-in TTL (see {@link StandInTtls}) in its place. */
export class StandInAdapter extends IoredisAdapter {
  readonly #standIns: StandInTtls;
  readonly #tellsConnectionErrors: boolean;

  /**
   * @param client - As for `IoredisAdapter`.
   * @param standIns - The stand-ins of the `Redlock` that the adapter serves.
   * @param tellsConnectionErrors - Whether the core learns that the client has no connection (see
   *   {@link connectionError}).
   */
  constructor(client: ConstructorParameters<typeof IoredisAdapter>[0], standIns: StandInTtls, tellsConnectionErrors: boolean) {
    super(client);
    this.#standIns = standIns;
    this.#tellsConnectionErrors = tellsConnectionErrors;
  }

  /**
   * As `IoredisAdapter`'s when told to; else always `undefined`, so that, as in node-redlock, every attempt
   * calls a node whose client has no connection, and the client's own error is its vote.
   */
  override connectionError(error?: unknown): unknown {
    return this.#tellsConnectionErrors ? super.connectionError(error) : undefined;
  }

  override evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    if (!this.#standIns.isUsed) return super.evalsha(sha1, keys, args);
    try {
      return super.evalsha(sha1, keys, this.#scriptArgsOf(args));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override async eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return super.eval(source, keys, this.#standIns.isUsed ? this.#scriptArgsOf(args) : args);
  }

  override trySet(key: string, value: string, ttlMs: number): Promise<unknown> {
    if (!this.#standIns.isUsed) return super.trySet(key, value, ttlMs);
    return this.#withDuration(ttlMs, (durationMs) => super.trySet(key, value, durationMs));
  }

  override setIfAbsent(key: string, value: string, ttlMs: number): Promise<unknown> {
    if (!this.#standIns.isUsed) return super.setIfAbsent(key, value, ttlMs);
    return this.#withDuration(ttlMs, (durationMs) => super.setIfAbsent(key, value, durationMs));
  }

  /** Sends a SET with the duration `ttlMs` stands in for; a stand-in no longer in use rejects, never throws. */
  #withDuration(ttlMs: number, send: (durationMs: number) => Promise<unknown>): Promise<unknown> {
    try {
      return send(Number(this.#standIns.durationOf(String(ttlMs))));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A script's arguments with its TTL as Redis must get it. Of the core's scripts that a compat `Redlock`
   * runs, the acquire and extend scripts alone have a second argument, `ARGV[2]`, their TTL (release, probe,
   * inspect and listeners have one or none); the integration tests check the TTL on the nodes after each.
   */
  #scriptArgsOf(args: readonly string[]): readonly string[] {
    if (args.length < 2) return args;
    const ttl = args[1] as string;
    const duration = this.#standIns.durationOf(ttl);
    return duration === ttl ? args : [args[0] as string, duration, ...args.slice(2)];
  }
}
