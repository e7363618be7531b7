// Leader election over a Redlock's public calls: one fenced lock per election, labelled with the leader.
import type { Clock } from './base/clock.js';
import { atCaller, type LockAcquireError, LockExtendError, type LockInspectError, LockLostError, RedlockClosedError } from './base/errors.js';
import type { LockInspection } from './base/outcomes.js';
import { emitErrorWarning, reportWith } from './base/warnings.js';
import { type Leader, leaderOf, Leadership, checkLeaderValue, labelOf } from './leadership.js';
import type { Lock } from './lock/lock.js';
import type { AcquireOptions, CampaignOptions, ElectionOptions, ObserveOptions } from './options.js';
import { resolveResources } from './settings/resolve-resources.js';
import { checkDurationMs, checkOptionsObject, checkSignal, checkType } from './settings/value-checks.js';

/** What an election asks of a `Redlock`: its public calls, nothing else. */
export interface ElectionHost {
  acquire(resource: string, ttlMs: number, options: AcquireOptions): Promise<Lock>;
  inspect(resource: string): Promise<LockInspection>;
  watchLabel(resource: string, listener: () => void): () => void;
}

/** The checked settings of an election, and the clock of its `Redlock`, which times `observe()`'s polls. */
interface ElectionSettings {
  readonly name: string;
  readonly ttlMs: number;
  readonly pollMs: number;
  readonly clock: Clock;
}

/** Checks the arguments of `redlock.election()` on a `Redlock` of `keyPrefix` and `clock`, before any node is called. */
export function resolveElection(name: unknown, options: unknown, { keyPrefix, clock }: { readonly keyPrefix: string; readonly clock: Clock }): ElectionSettings {
  checkType('name', name, 'string');
  resolveResources(name, keyPrefix);
  const { ttlMs = 10_000, pollMs = 1_000 } = checkOptionsObject(options, 'election');
  checkDurationMs('ttlMs', ttlMs, 1);
  checkDurationMs('pollMs', pollMs, 1);
  return { name, ttlMs, pollMs, clock };
}

/**
 * A leader election among every process that campaigns in it on the same nodes: at most one leads at a
 * time, by holding the election's lock (its resource is the election's name) with a fencing token, its
 * term. The leader labels the lock with its term and a value anyone may read (a host name, a URL), and
 * keeps it extended; when it resigns, the next campaigner is woken at once, and when it crashes, a
 * campaigner takes over once the lock expires (`ttlMs`).
 *
 * Terms are fencing tokens: they grow with every leader only where the nodes keep their writes (see
 * `fencing` in `acquire()`), or restart empty one at a time while a leader leads (its extensions set the
 * counters again), and like every Redlock guarantee they assume bounded clock drift and pauses. A label
 * is a leader's only when its term is the fencing token of the lock that wrote it.
 * A leader that was paused for longer than `ttlMs` may still believe it leads: pass its `term` to what it
 * writes to, and check `leadership.assertLeading()` right before each write.
 *
 * @example
 * ```ts
 * const election = redlock.election('scheduler');
 * await election.lead(os.hostname(), async (signal) => {
 *   await runScheduler({ signal }); // runs on one instance at a time; aborts if leadership is lost
 * });
 * ```
 */
export class Election {
  /** The election's name: the resource of its lock. */
  readonly name: string;
  readonly #host: ElectionHost;
  readonly #settings: ElectionSettings;

  /** @internal */
  constructor(host: ElectionHost, settings: ElectionSettings) {
    this.#host = host;
    this.name = settings.name;
    this.#settings = settings;
  }

  /**
   * Waits until this caller leads, for as long as it takes (retrying, and woken at once when a leader
   * resigns), then labels the lock with `value` and the term. Leadership is kept extended until
   * `resign()`, a loss or `redlock.close()`.
   *
   * @param value - Who leads, for `leader()` and `observe()`: public, never a secret.
   * @throws {@link LockAcquireError} when `options.waitMs` ran out or `options.retryCount` was spent first,
   *   with each attempt's node outcomes (its `reason`: `'held-by-another-owner'` while another leads,
   *   `'nodes-unreachable'` when no quorum of nodes answered); `signal.reason` when `options.signal` aborts
   *   first; {@link RedlockClosedError} once `redlock.close()` was called; `TypeError` or `RangeError` for
   *   bad arguments, before any node is called. A lock won whose value a quorum could not take (nodes too
   *   slow, the lock lost meanwhile) is let go, and the campaign goes on within the same wait.
   */
  async campaign(value: string, options?: CampaignOptions): Promise<Leadership> {
    try {
      return await this.#campaign(value, options);
    } catch (error) {
      throw atCaller(error, Election.prototype.campaign);
    }
  }

  /** {@link campaign}, whose errors it rethrows at its caller. */
  async #campaign(value: string, options?: CampaignOptions): Promise<Leadership> {
    checkLeaderValue(value);
    const { signal, maxExtensions, maxHoldMs, waitMs = Infinity, retryCount = Infinity } = checkOptionsObject(options, 'campaign') as CampaignOptions;
    // Checked here, before the deadline is computed from it; `acquire()` checks the rest.
    if (waitMs !== Infinity) checkDurationMs('waitMs', waitMs, 1);
    const limits = { ...(maxExtensions === undefined ? {} : { maxExtensions }), ...(maxHoldMs === undefined ? {} : { maxHoldMs }) };
    const { clock, ttlMs } = this.#settings;
    const deadline = clock.now() + waitMs;
    for (;;) {
      // A campaign that campaigns again after a label no quorum took waits only what is left of its wait.
      const leftMs = waitMs === Infinity ? Infinity : Math.max(1, Math.ceil(deadline - clock.now()));
      const lock = await this.#host.acquire(this.name, ttlMs, { fencing: true, autoExtend: true, retryCount, waitMs: leftMs, signal, ...limits });
      try {
        await lock.setLabel(labelOf(lock.fencingToken as number, value));
        return new Leadership(this.name, lock, value);
      } catch (error) {
        // Nodes too slow to take the value, or the lock lost meanwhile: let go, and campaign again.
        await lock.release().catch(() => undefined);
        if (!(error instanceof LockExtendError)) throw error;
        signal?.throwIfAborted();
      }
    }
  }

  /**
   * Who leads now, as a quorum of nodes tells: the value and term of the leader's label, or `undefined`
   * when nobody leads (or the leader has not labelled a quorum yet, a round trip after it won). It never
   * sees or reveals the leader's token.
   * @throws {@link LockInspectError} when fewer than a quorum of nodes answered; {@link RedlockClosedError}
   *   once `redlock.close()` was called.
   */
  async leader(): Promise<Leader | undefined> {
    const { label, labelFencingToken } = await this.#host.inspect(this.name);
    return leaderOf(label, labelFencingToken);
  }

  /**
   * The leaders as they change: the current one (or `undefined`) first, then each change, a new leader,
   * a new value, or nobody (`undefined`), as a quorum of nodes reports it each time. Prompt where the nodes
   * announce changes (a leader labelling or resigning), and read every `pollMs` anyway; announcements
   * that change nothing make it read at most 4 more times in any `pollMs`, however many come.
   *
   * It follows whoever leads, also to a lower term: terms only grow while the nodes keep their fencing
   * counters (see the README), and a quorum that lost them (FLUSHALL, nodes replaced or restarted empty
   * while nobody led) starts again from term 1, which it reports as it is. A label that no campaign wrote
   * (its term is not the fencing token of the lock that wrote it) is reported as nobody.
   *
   * A read that fails (too few nodes answer) is tried again at the next poll, or when the leader it last
   * read could have lost its lock (the lock's remaining time then), whichever comes first. Once the
   * leader last read could have lost it, a second failed read in a row ends the iteration with its
   * error: the observer can no longer tell who leads (as etcd's `Observe` closes its channel). Observe
   * again to go on.
   *
   * @throws `signal.reason` from the iteration when `options.signal` aborts; {@link RedlockClosedError}
   *   once `redlock.close()` was called; a {@link LockInspectError} when reads keep failing, as above;
   *   `TypeError` for bad options, at the first `next()`.
   *
   * @example
   * ```ts
   * for await (const leader of election.observe({ signal })) {
   *   console.log(leader === undefined ? 'no leader' : `${leader.value} leads (term ${leader.term})`);
   * }
   * ```
   */
  async *observe(options?: ObserveOptions): AsyncGenerator<Leader | undefined, void, undefined> {
    const { signal } = checkOptionsObject(options, 'observe');
    checkSignal(signal);
    const { clock, pollMs } = this.#settings;
    const pace = new ReadPace(this.#settings, signal);
    const stop = this.#host.watchLabel(this.name, () => pace.announce());
    try {
      let last: Leader | undefined | null = null;
      /** Until when the leader read last may still lead: its lock's remaining time, as read then. */
      let leadsUntil = clock.now();
      let failedReads = 0;
      for (;;) {
        signal?.throwIfAborted();
        pace.startRead();
        const startMs = clock.now();
        let inspection: LockInspection;
        try {
          inspection = await this.#host.inspect(this.name);
        } catch (error) {
          if (error instanceof RedlockClosedError) throw error;
          failedReads += 1;
          const now = clock.now();
          if (failedReads >= 2 && now >= leadsUntil) throw error;
          // Read again at the next poll, or as soon as the leader read last could have lost its lock.
          await pace.nextRead(now + pollMs, leadsUntil > now ? leadsUntil : Infinity);
          continue;
        }
        failedReads = 0;
        leadsUntil = startMs + inspection.remainingMs;
        const leader = leaderOf(inspection.label, inspection.labelFencingToken);
        if (!isSameLeader(last, leader)) {
          last = leader;
          pace.sawChange();
          yield leader;
        }
        await pace.nextRead(clock.now() + pollMs);
      }
    } finally {
      stop();
    }
  }

  /**
   * Campaigns, runs `routine` once leading, and resigns when it ends, as `redlock.using()` does for a lock:
   * the routine gets the leadership's `signal`, which aborts the moment leadership is lost, and the
   * {@link Leadership}.
   *
   * @returns What `routine` returns, when leadership lasted until it returned (or until it resigned).
   * @throws The leadership's loss (a `LockLostError`, a `LockLimitError` or a `RedlockClosedError`) when it
   *   was lost while the routine ran, also when the routine returned as it expired unseen (a stalled event
   *   loop); whatever `routine` throws, with the loss, if any, as its `lockLostError` property, as
   *   `redlock.using()` does; what `campaign()` throws.
   */
  async lead<T>(value: string, routine: (signal: AbortSignal, leadership: Leadership) => Promise<T> | T, options?: CampaignOptions): Promise<T> {
    if (typeof routine !== 'function') throw new TypeError(`Expected \`routine\` to be a function, got \`${typeof routine}\``);
    const leadership = await this.campaign(value, options);
    let outcome: { readonly value: T } | { readonly error: unknown };
    try {
      outcome = { value: await routine(leadership.signal, leadership) };
    } catch (error) {
      outcome = { error };
    }
    const loss = lossOf(leadership);
    // A release that fails ends the leadership at the latest `ttlMs` later: reported, never thrown over the routine's outcome.
    await leadership.resign().catch(emitErrorWarning);
    if ('error' in outcome) {
      const { error } = outcome;
      if (loss !== undefined && !(error instanceof LockLostError)) reportWith(error, 'lockLostError', loss);
      throw error;
    }
    if (loss !== undefined) throw loss;
    return outcome.value;
  }
}

/** Why `leadership` was lost, once it is: its signal's reason, or the expiry its signal had not told yet. */
function lossOf(leadership: Leadership): unknown {
  if (leadership.state !== 'lost') return undefined;
  if (leadership.signal.aborted) return leadership.signal.reason as unknown;
  try {
    leadership.assertLeading();
    return undefined;
  } catch (error) {
    return error;
  }
}

/** Whether two reads name the same leader (`null`: nothing read yet). */
function isSameLeader(last: Leader | undefined | null, leader: Leader | undefined): boolean {
  if (last === null) return false;
  return last === leader || (last !== undefined && leader !== undefined && last.term === leader.term && last.value === leader.value);
}

/** How many reads announcements may prompt in any `pollMs` of an observation, besides its polls. */
const ANNOUNCED_READS_PER_POLL = 4;

/**
 * When an observation reads: at its polls, and sooner at an announcement, but at most
 * {@link ANNOUNCED_READS_PER_POLL} times in any `pollMs` for announcements that changed nothing since the
 * last change read, so that anyone who can PUBLISH on the label channel cannot make it read the nodes
 * more often. Announcements during a read or a wait count once.
 */
class ReadPace {
  readonly #settings: ElectionSettings;
  readonly #signal: AbortSignal | undefined;
  #isAnnounced = false;
  /** The starts of the latest announced reads, oldest first: at most {@link ANNOUNCED_READS_PER_POLL}. */
  readonly #announcedReads: number[] = [];
  /** Called at an announcement while waiting: reconsiders when to read. */
  #onAnnounce: (() => void) | undefined;

  constructor(settings: ElectionSettings, signal: AbortSignal | undefined) {
    this.#settings = settings;
    this.#signal = signal;
  }

  /** A node announced a change of the label. */
  announce(): void {
    this.#isAnnounced = true;
    this.#onAnnounce?.();
  }

  /**
   * A read found a change: the announcements that led to it were not forged, and the reads they prompt
   * count again from here (a change announced by every node can cost a read or two that see it half made).
   */
  sawChange(): void {
    this.#announcedReads.length = 0;
  }

  /** A read starts: what was announced until now, it reads. */
  startRead(): void {
    this.#isAnnounced = false;
  }

  /**
   * Resolves when the next read is due: at `pollAtMs` or `alsoAtMs` (on the monotonic clock), at an
   * announcement if the announced reads allow one, or when the signal aborts.
   */
  nextRead(pollAtMs: number, alsoAtMs = Infinity): Promise<void> {
    const { clock } = this.#settings;
    const signal = this.#signal;
    return new Promise<void>((resolve) => {
      let timer: unknown;
      const finish = (): void => {
        clock.clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        this.#onAnnounce = undefined;
        resolve();
      };
      const schedule = (): void => {
        const announcedAtMs = this.#isAnnounced ? this.#announcedReadAtMs() : Infinity;
        const atMs = Math.min(pollAtMs, alsoAtMs, announcedAtMs);
        const isAnnouncedRead = announcedAtMs === atMs;
        const read = (): void => {
          if (isAnnouncedRead) this.#countAnnouncedRead();
          finish();
        };
        clock.clearTimeout(timer);
        const waitMs = atMs - clock.now();
        if (waitMs <= 0) return read();
        timer = clock.setTimeout(read, waitMs);
      };
      this.#onAnnounce = schedule;
      signal?.addEventListener('abort', finish, { once: true });
      // Aborted during the read before: no event will come.
      if (signal?.aborted === true) return finish();
      schedule();
    });
  }

  /** The earliest time an announced read may start: at once, or when the oldest of the latest ones is `pollMs` old. */
  #announcedReadAtMs(): number {
    const reads = this.#announcedReads;
    return reads.length < ANNOUNCED_READS_PER_POLL ? -Infinity : (reads[0] as number) + this.#settings.pollMs;
  }

  #countAnnouncedRead(): void {
    this.#announcedReads.push(this.#settings.clock.now());
    if (this.#announcedReads.length > ANNOUNCED_READS_PER_POLL) this.#announcedReads.shift();
  }
}
