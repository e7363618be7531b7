// node-redlock 5's `Redlock` and `Lock` over redlock-core: the same calls, settings, errors and events,
// with the core's algorithm underneath (adaptive node timeouts, cleanup of failed attempts, prompt
// hand-off to waiters). Where the two differ, the README's migration guide says how.
import { EventEmitter } from 'node:events';
import { type Lock as CoreLock, LockAcquireError, LockExtendError, LockReleaseError, MAX_TTL_MS, Redlock as CoreRedlock, RedlockClosedError, type PendingNodeOutcome, type ReleaseNodeOutcome } from 'redlock-core';
import { quitClient } from 'redlock-ioredis-adapter';
import { ExecutionError, NO_QUORUM_MESSAGE } from './errors.js';
import { attemptsOf, keptAttempts, Votes } from './execution-stats.js';
import { MAX_DURATION_MS, needsStandIn, StandInAdapter, StandInTtls } from './long-durations.js';
import { acquireOptionsOf, coreOptionsOf, DEFAULT_SETTINGS, driftOf, isSameSettings, type Settings, settingsOf } from './settings.js';
import type { Client, ExecutionResult, ExecutionStats } from './types.js';
import { type RedlockAbortSignal, runWithExtension } from './using.js';

/**
 * Sets the core lock behind a `Lock` this library made (a `Lock` made with `new Lock(…)` has none). A private
 * field rather than a `WeakMap`: a `WeakMap` entry for every lock made the collector's minor pass walk them
 * all, the compat layer's largest cost (bench/scripts/core-instructions.sh compat).
 */
let attachCore: (lock: Lock, core: CoreLock, votes: readonly Votes[]) => void;
/** The core lock behind a `Lock`, when this library acquired it. */
let coreOf: (lock: Lock) => CoreLock | undefined;

/**
 * A lock on `resources`, held until `expiration`: what `acquire()` and `extend()` resolve with. Its
 * `release()` and `extend()` call the `Redlock`'s.
 */
export class Lock {
  /**
   * @param redlock - The `Redlock` that acquired it.
   * @param resources - The locked resources.
   * @param value - The random value that identifies the owner on every node.
   * @param attempts - The votes of the attempts that acquired or extended it (see {@link Lock.attempts}).
   * @param expiration - When validity ends, in milliseconds since the epoch.
   */
  constructor(
    /** The `Redlock` that acquired it. */
    readonly redlock: Redlock,
    /** The locked resources. */
    readonly resources: string[],
    /** The random value that identifies the owner on every node. Keep it secret: it can release the lock. */
    readonly value: string,
    attempts: ReadonlyArray<Promise<ExecutionStats>>,
    /** When validity ends, in milliseconds since the epoch (`Date.now()`); 0 once released or replaced by `extend()`. */
    public expiration: number,
  ) {
    checkResources(resources);
    this.#attempts = attempts;
  }

  /**
   * The votes of the attempt that acquired or extended the lock, and of the failed extension attempts
   * before it. Earlier failed acquisition attempts are not kept (see the migration guide).
   */
  get attempts(): ReadonlyArray<Promise<ExecutionStats>> {
    return (this.#attempts ??= attemptsOf(this.#votes ?? []));
  }

  #attempts: ReadonlyArray<Promise<ExecutionStats>> | undefined;
  /** The votes behind `attempts`, made into its stats on first read. */
  #votes: readonly Votes[] | undefined;
  /** The core lock behind this one, when this library acquired it. */
  #core: CoreLock | undefined;

  static {
    attachCore = (lock, core, votes) => {
      lock.#core = core;
      lock.#votes = votes;
      lock.#attempts = undefined;
    };
    coreOf = (lock) => lock.#core;
  }

  /** Releases the lock: see {@link Redlock.release}. */
  async release(): Promise<ExecutionResult> {
    return this.redlock.release(this);
  }

  /** Extends the lock to `duration` milliseconds from now: see {@link Redlock.extend}. */
  async extend(duration: number): Promise<Lock> {
    return this.redlock.extend(this, duration);
  }
}

/**
 * node-redlock 5's `Redlock` over redlock-core and ioredis: a lock is held when a quorum (⌊N/2⌋+1) of the
 * clients' nodes granted it. Each client is one independent node: a `Redis`, or a `Cluster`.
 *
 * Like node-redlock, it emits `"error"` for every vote against an operation (a
 * {@link ResourceLockedError} when another owner holds a resource, else the client's error, or the core's
 * `NodeError` for a node that timed out), and listens to its own `"error"` so that an unheard event never
 * crashes the process.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import Redlock from 'redlock-node-redlock-compat'; // was: from 'redlock'
 *
 * const redlock = new Redlock([new Redis('redis://a:6379'), new Redis('redis://b:6379'), new Redis('redis://c:6379')]);
 * await redlock.using(['orders:42'], 5000, async (signal) => {
 *   await chargeOrder(42);
 *   if (signal.aborted) throw signal.error;
 * });
 * ```
 */
export default class Redlock extends EventEmitter {
  /** The clients, one per node, in the order given. */
  readonly clients: Set<Client>;
  /**
   * The settings of every call, with node-redlock's defaults for those not given. As in node-redlock, a
   * setting changed here applies to the calls that follow, but `driftFactor`, which the `Redlock` is made
   * with. Each acquisition checks them as it checks a call's own settings; a lock already held is never
   * refused over them (`release()` does not read them, `extend()` uses the settings last found good).
   */
  readonly settings: Settings;
  readonly #clients: readonly Client[];
  readonly #core: CoreRedlock;
  /** The stand-in TTLs of calls for longer than the core's longest TTL (see long-durations.ts). */
  readonly #standIns = new StandInTtls();
  /** The settings the core was made with: a call with these passes it no options. */
  readonly #coreSettings: Settings;
  /** {@link settings} as last checked: see {@link #ownSettings}. */
  #checkedSettings: Settings;

  /**
   * @param clients - One ioredis client per independent node (a `Redis` or a `Cluster`); at least one.
   * @param settings - See {@link Settings}.
   * @param scripts - node-redlock's custom scripts: refused, as the core runs its own (see the migration guide).
   * @throws `Error` without clients, as node-redlock; `TypeError` or `RangeError` for a bad setting, or for custom scripts.
   */
  constructor(
    clients: Iterable<Client>,
    settings: Partial<Settings> = {},
    scripts?: {
      readonly acquireScript?: string | ((script: string) => string);
      readonly extendScript?: string | ((script: string) => string);
      readonly releaseScript?: string | ((script: string) => string);
    },
  ) {
    super();
    // As node-redlock: an "error" event nobody listens to must not crash the process.
    this.on('error', () => undefined);
    this.clients = new Set(clients);
    if (this.clients.size === 0) throw new Error('Redlock must be instantiated with at least one redis client.');
    this.#coreSettings = settingsOf(settings, DEFAULT_SETTINGS, 'the Redlock settings');
    this.#checkedSettings = this.#coreSettings;
    // A copy that the user may change (see `settings`), the core's own kept apart.
    this.settings = { ...this.#coreSettings };
    if (scripts !== undefined && Object.values(scripts).some((script) => script !== undefined)) {
      throw new TypeError('Custom scripts are not supported: the core runs its own scripts, which other clients of the same nodes rely on (see the migration guide)');
    }
    this.#clients = [...this.clients];
    this.#core = new CoreRedlock(
      this.#clients.map((client) => new StandInAdapter(client, this.#standIns, this.#coreSettings.errors === 'redlock-core')),
      coreOptionsOf(this.#coreSettings),
    );
  }

  /**
   * Closes what the library opened (the notification connections), then every client, as node-redlock
   * does: QUIT, so that commands in flight reach their node, and a disconnect when a node has not replied
   * within 1 s (node-redlock's would wait for a node that is down). Never rejects.
   */
  async quit(): Promise<void> {
    await this.#core.close();
    await Promise.all(this.#clients.map((client) => quitClient(client)));
  }

  /**
   * Acquires a lock on `resources` for `duration` milliseconds, retrying `retryCount` times (`-1`: until
   * acquired) `retryDelay` ± `retryJitter` apart. An attempt that fails removes whatever it set.
   * @throws {@link ExecutionError} when no attempt won a quorum; `TypeError` or `RangeError` for a bad
   *   argument, before any node is called.
   */
  async acquire(resources: string[], duration: number, settings?: Partial<Settings>): Promise<Lock> {
    checkDuration(duration);
    checkResources(resources);
    const merged = this.#callSettings(settings, 'acquire()');
    const isClientErrors = merged.errors !== 'redlock-core';
    const standIn = this.#standInFor(duration, merged);
    // node-redlock's start, for the expiration of a lock whose core lock has a stand-in TTL.
    const startedAt = standIn === undefined ? 0 : Date.now();
    let failed: readonly Votes[] = [];
    try {
      // node-redlock's attempts: the first, then `retryCount` retries. The core makes them all, but where
      // keys that are not locks deny a quorum (it stops there; node-redlock goes on): then this loop does.
      for (let attemptsLeft = merged.retryCount === -1 ? Infinity : merged.retryCount + 1; ; ) {
        let core: CoreLock;
        try {
          // The core already has the Redlock's settings: a call without its own passes no options, which
          // the core resolves once rather than on every call. This loop's last attempt asks for one retry: a
          // call without any (a single try) rejects before the keys a silent node set are removed, where
          // node-redlock's rejects once they are. Where keys that are not locks still deny a quorum, the core
          // stops after that attempt anyway; only where they no longer do and another owner holds the lock
          // does it make that one more.
          const retryCount = failed.length === 0 ? attemptsLeft - 1 : Math.max(1, attemptsLeft - 1);
          const options = merged === this.#coreSettings && failed.length === 0 ? undefined : { ...acquireOptionsOf(merged), retryCount };
          core = await this.#core.acquire(distinct(resources), standIn ?? duration, options);
        } catch (error) {
          if (error instanceof RedlockClosedError) throw closedError(error);
          if (!(error instanceof LockAcquireError)) throw error;
          const votes = error.attempts.map((attempt) => this.#emitted(new Votes(this.#clients, attempt.nodes, 'acquired', resources.length, isClientErrors)));
          failed = keptAttempts([...failed, ...votes]);
          attemptsLeft -= error.attemptCount;
          const isRetried = error.reason === 'foreign-key' && merged.foreignKeys !== 'redlock-core' && attemptsLeft > 0;
          if (!isRetried) throw new ExecutionError(NO_QUORUM_MESSAGE, attemptsOf(failed), { cause: error });
          await pause(merged);
          continue;
        }
        const votes = this.#emitted(new Votes(this.#clients, core.nodes, 'acquired', resources.length, isClientErrors));
        const expiration = standIn === undefined ? core.expiresAt : startedAt + duration - driftOf(duration, this.#coreSettings.driftFactor);
        return this.#lockOf(core, [...resources], [votes], expiration);
      }
    } finally {
      if (standIn !== undefined) this.#standIns.release(standIn);
    }
  }

  /**
   * Releases `lock` on every node, and sets its `expiration` to 0. Resolves once a quorum of nodes
   * deleted the lock's keys.
   * @throws {@link ExecutionError} when fewer than a quorum held the lock any more (it had expired, or was
   *   released already), or fewer than a quorum answered.
   */
  async release(lock: Lock, settings?: Partial<Settings>): Promise<ExecutionResult> {
    // One round, with no retries to pace: only a call's own settings are checked, never `redlock.settings`,
    // so that a change there cannot keep a held lock from being released.
    const isClientErrors = (settings === undefined ? this.#checkedSettings : settingsOf(settings, this.#checkedSettings, 'release()')).errors !== 'redlock-core';
    const core = this.#coreLockOf(lock);
    lock.expiration = 0;
    const keyCount = lock.resources.length;
    let nodes: readonly (ReleaseNodeOutcome | PendingNodeOutcome)[];
    try {
      // A Lock made elsewhere (`new Lock(…)`) is released by its value.
      const result = await (core === undefined ? this.#core.releaseByToken(distinct(lock.resources), lock.value) : core.release());
      // node-redlock counts a vote for only where the node deleted our keys: with fewer than a quorum so
      // far, the other nodes' answers decide.
      nodes = result.releasedCount >= this.#quorum ? result.nodes : await result.settled;
    } catch (error) {
      if (!(error instanceof LockReleaseError)) throw error;
      throw new ExecutionError(NO_QUORUM_MESSAGE, attemptsOf([this.#emitted(new Votes(this.#clients, error.nodes, 'released', keyCount, isClientErrors))]), { cause: error });
    }
    const votes = this.#emitted(new Votes(this.#clients, nodes, 'released', keyCount, isClientErrors));
    if (votes.forCount < this.#quorum) throw new ExecutionError(NO_QUORUM_MESSAGE, attemptsOf([votes]));
    return new Released(votes);
  }

  /**
   * Extends `existing` to `duration` milliseconds from now and resolves with a new `Lock`; `existing`'s
   * `expiration` becomes 0. A failed attempt is retried `retryCount` times while the lock is still valid
   * and no other owner took it.
   * @throws {@link ExecutionError} when the lock had expired, or no attempt won a quorum.
   */
  async extend(existing: Lock, duration: number, settings?: Partial<Settings>): Promise<Lock> {
    checkDuration(duration);
    const merged = this.#callSettings(settings, 'extend()', false);
    if (existing.expiration < Date.now()) throw new ExecutionError('Cannot extend an already-expired lock.', []);
    let core = this.#coreLockOf(existing);
    // A lock held past its core lock's validity, as one for longer than the core's longest TTL can be (see
    // long-durations.ts): taken over by its value, as a Lock made elsewhere.
    if (core?.state === 'expired') core = undefined;
    const isClientErrors = merged.errors !== 'redlock-core';
    const standIn = this.#standInFor(duration, merged);
    const { driftFactor } = this.#coreSettings;
    const keyCount = existing.resources.length;
    const attempts: Votes[] = [];
    try {
      for (let retries = 0; ; retries += 1) {
        const startedAt = Date.now();
        try {
          // A Lock made elsewhere (`new Lock(…)`) is taken over by its value: extended, then held here.
          if (core === undefined) core = await this.#core.adopt(distinct(existing.resources), existing.value, standIn ?? duration);
          else await core.extend(standIn ?? duration);
          attempts.push(this.#emitted(new Votes(this.#clients, core.extensionNodes ?? [], 'extended', keyCount, isClientErrors)));
          existing.expiration = 0;
          return this.#lockOf(core, existing.resources, attempts, standIn === undefined ? core.expiresAt : startedAt + duration - driftOf(duration, driftFactor));
        } catch (error) {
          if (error instanceof RedlockClosedError) throw closedError(error);
          if (!(error instanceof LockExtendError)) throw error;
          // The nodes may have run it: a shorter duration cut the keys' life there, whatever the outcome.
          const cutTo = standIn === undefined && core !== undefined ? core.expiresAt : startedAt + duration - driftOf(duration, driftFactor);
          existing.expiration = Math.min(existing.expiration, cutTo);
          attempts.push(this.#emitted(new Votes(this.#clients, error.nodes, 'extended', keyCount, isClientErrors)));
          const isValid = core === undefined || standIn !== undefined ? existing.expiration > Date.now() : core.remainingValidityMs > 0;
          const canRetry = !error.isLost && isValid && (merged.retryCount === -1 || retries < merged.retryCount);
          if (!canRetry) throw new ExecutionError(NO_QUORUM_MESSAGE, attemptsOf(attempts), { cause: error });
          await pause(merged);
        }
      }
    } finally {
      if (standIn !== undefined) this.#standIns.release(standIn);
    }
  }

  /**
   * Runs `routine` under a lock on `resources` that is extended by `duration` each time its expiration is
   * `automaticExtensionThreshold` milliseconds away, and released when `routine` settles. When an
   * extension fails, or the lock is lost, the signal aborts and `signal.error` says why: check it before
   * each step that needs the lock. Resolves with `routine`'s value.
   * @throws what `acquire()` throws, what `routine` throws, or the release's {@link ExecutionError}.
   */
  using<T>(resources: string[], duration: number, settings: Partial<Settings>, routine?: (signal: RedlockAbortSignal) => Promise<T>): Promise<T>;
  /** `using()` with the `Redlock`'s settings. */
  using<T>(resources: string[], duration: number, routine: (signal: RedlockAbortSignal) => Promise<T>): Promise<T>;
  async using<T>(
    resources: string[],
    duration: number,
    settingsOrRoutine: Partial<Settings> | ((signal: RedlockAbortSignal) => Promise<T>),
    optionalRoutine?: (signal: RedlockAbortSignal) => Promise<T>,
  ): Promise<T> {
    checkDuration(duration);
    const settings = this.#callSettings(typeof settingsOrRoutine === 'function' ? undefined : settingsOrRoutine, 'using()');
    const routine = optionalRoutine ?? settingsOrRoutine;
    if (typeof routine !== 'function') throw new TypeError('Expected a routine: using(resources, duration, [settings,] routine)');
    if (settings.automaticExtensionThreshold > duration - 100) {
      throw new RangeError('A lock `duration` must be at least 100ms greater than the `automaticExtensionThreshold` setting.');
    }
    const lock = await this.acquire(resources, duration, settings);
    const core = coreOf(lock) as CoreLock;
    // The threshold before the expiration, or before the core lock's validity ends when that comes first: a
    // lock longer than the core's longest TTL is extended before its core lock expires (see long-durations.ts).
    const extendAt = (held: Lock): number => Math.min(held.expiration, coreOf(held)?.expiresAt ?? Infinity) - settings.automaticExtensionThreshold;
    return runWithExtension(lock, core.signal, duration, extendAt, () => pause(settings), routine);
  }

  get #quorum(): number {
    return this.#core.quorum;
  }

  /**
   * A call's settings over the `Redlock`'s (see {@link #ownSettings} for `isStrict`); a `driftFactor` of
   * its own is refused (the core has one per `Redlock`).
   */
  #callSettings(settings: Partial<Settings> | undefined, where: string, isStrict = true): Settings {
    const own = this.#ownSettings(isStrict);
    const merged = settingsOf(settings, own, where);
    if (merged.driftFactor !== own.driftFactor) {
      throw new TypeError(`A \`driftFactor\` for one call is not supported (${where} got ${merged.driftFactor}, the Redlock has ${own.driftFactor}): set it on the Redlock`);
    }
    return merged;
  }

  /**
   * {@link settings} as they are now, checked again when the user changed them since the last call (the
   * same object while they did not, the core's own while they are those; a setting set to `undefined`
   * keeps the one the `Redlock` was made with). A bad value, an unknown name or a new `driftFactor` is a
   * `TypeError` or `RangeError` before any node is called, when `isStrict` (an acquisition); otherwise (an
   * extension of a lock already held, which a change of settings must not cost) the settings last found
   * good serve.
   */
  #ownSettings(isStrict: boolean): Settings {
    if (isSameSettings(this.settings, this.#checkedSettings)) return this.#checkedSettings;
    let checked: Settings;
    try {
      checked = settingsOf({ ...this.settings }, this.#coreSettings, 'the Redlock settings');
      if (checked.driftFactor !== this.#coreSettings.driftFactor) {
        throw new TypeError(
          `The \`driftFactor\` of a Redlock cannot change once it is made (its settings have ${checked.driftFactor}, it was made with ${this.#coreSettings.driftFactor}): make another Redlock`,
        );
      }
    } catch (error) {
      if (isStrict) throw error;
      return this.#checkedSettings;
    }
    this.#checkedSettings = isSameSettings(checked, this.#coreSettings) ? this.#coreSettings : checked;
    return this.#checkedSettings;
  }

  /** Emits every vote against in `votes` as an `"error"` event, as node-redlock does, and hands the votes on. */
  #emitted(votes: Votes): Votes {
    if (votes.against !== undefined) for (const error of votes.against.values()) this.emit('error', error);
    return votes;
  }

  /**
   * The stand-in TTL the core gets instead of `duration` (see long-durations.ts), taken until its release;
   * `undefined` when the core gets `duration` itself: a duration it takes, or one above its longest TTL
   * with `durations: 'redlock-core'`, which it refuses with a `RangeError`.
   */
  #standInFor(duration: number, settings: Settings): number | undefined {
    if (!needsStandIn(duration) || (duration > MAX_TTL_MS && settings.durations === 'redlock-core')) return undefined;
    return this.#standIns.take(duration);
  }

  /** A compat `Lock` for `core`, valid until `expiration` (the core lock's, unless a stand-in TTL stood for its duration). */
  #lockOf(core: CoreLock, resources: string[], votes: readonly Votes[], expiration: number): Lock {
    const lock = new Lock(this, resources, core.token, [], expiration);
    attachCore(lock, core, votes);
    return lock;
  }

  /** The core lock behind `lock` when this `Redlock` acquired it; `undefined` for a Lock made elsewhere. */
  #coreLockOf(lock: Lock): CoreLock | undefined {
    return lock.redlock === this ? coreOf(lock) : undefined;
  }
}

/** What `release()` resolves with: its votes, made into node-redlock's stats on first read (most callers never look). */
class Released implements ExecutionResult {
  readonly #votes: Votes;
  #attempts: ReadonlyArray<Promise<ExecutionStats>> | undefined;

  constructor(votes: Votes) {
    this.#votes = votes;
  }

  get attempts(): ReadonlyArray<Promise<ExecutionStats>> {
    return (this.#attempts ??= attemptsOf([this.#votes]));
  }
}

/**
 * Refuses `resources` that are not an array, before any node is called: node-redlock took a string as the
 * list of its characters, so that `'order:1'` and `'order:2'` locked each other out.
 */
function checkResources(resources: unknown): void {
  if (Array.isArray(resources)) return;
  const got = typeof resources === 'string' ? `the string ${JSON.stringify(resources.length > 60 ? `${resources.slice(0, 57)}...` : resources)}` : `\`${typeof resources}\``;
  throw new TypeError(`Expected \`resources\` to be an array of resource names, got ${got}: write [${typeof resources === 'string' ? JSON.stringify(resources.slice(0, 60)) : 'name'}] for one resource`);
}

/** The resources once each: node-redlock locks `[a, a]` as `[a]` (its script sets a key once), the core refuses duplicates. */
function distinct(resources: string[]): string[] {
  return resources.length < 2 || new Set(resources).size === resources.length ? resources : [...new Set(resources)];
}

/** What a call gets after `quit()`: node-redlock's `ExecutionError`, as its closed clients fail every attempt. */
function closedError(error: RedlockClosedError): ExecutionError {
  return new ExecutionError(NO_QUORUM_MESSAGE, [], { cause: error });
}

/**
 * node-redlock's check of a duration, with its message; and a `RangeError` above `Number.MAX_SAFE_INTEGER`,
 * which node-redlock sent on to fail on every node (`Infinity`, or `1e+21` as ioredis writes it).
 */
function checkDuration(duration: number): void {
  if (Math.floor(duration) !== duration) throw new TypeError('Duration must be an integer value in milliseconds.');
  if (duration > MAX_DURATION_MS) throw new RangeError(`Expected a duration of at most Number.MAX_SAFE_INTEGER (${MAX_DURATION_MS}) ms, got ${duration}`);
}

/** Waits `retryDelay` ± `retryJitter` milliseconds, as node-redlock between attempts. */
function pause(settings: Settings): Promise<void> {
  const ms = Math.max(0, settings.retryDelay + Math.floor((Math.random() * 2 - 1) * settings.retryJitter));
  return new Promise((resolve) => setTimeout(resolve, ms));
}
