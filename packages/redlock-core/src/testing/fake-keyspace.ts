// The state of one fake Redis server: its keys, their types and TTLs on the server's clock, its script cache
// and run id. Several FakeNode connections may share one.

/** The token a `refusingNode` reports for every key: some other owner's. */
export const OTHER_OWNER_TOKEN = 'another-owner';

/** A key's type, as TYPE reports it. Lock keys and fencing counters are strings; the others are data a test plants. */
export type FakeKeyType = 'string' | 'hash' | 'list' | 'set' | 'zset';

/**
 * The clock a server expires keys by. A `Clock` (the core's, or a test's virtual one) is one; a simulation passes a drifting or jumping
 * view of it, since Redis expires keys by its own clock.
 */
export interface ServerClock { now(): number }

/** How a server comes back after a crash: with its data (AOF with fsync always) or empty. */
export interface RestartOptions { readonly persistence: boolean }

/** One key: its type, a string's value (`''` for other types), a hash's fields, and its expiry on the server's clock. */
interface Entry {
  type: FakeKeyType;
  value: string;
  fields?: Map<string, string>;
  expiresAtMs: number;
}

/** The scripts' `isInsideRestartGrace`: the server started less than `graceMs` ago, by its uptime in whole seconds, rounded down. */
export function isInsideRestartGrace(keyspace: FakeKeyspace, graceMs: number): boolean {
  return graceMs > 0 && Math.floor(keyspace.uptimeMs / 1000) * 1000 < graceMs;
}

let nextRunNumber = 1;

/** A Redis-like run id (40 hex characters), different for every start of every server in this process. */
function createRunId(): string {
  return (nextRunNumber++).toString(16).padStart(40, '0');
}

/**
 * The state of one Redis server: a keyspace whose TTLs run on the fake clock, and a script cache.
 * Several `FakeNode` connections may share one, like several clients of one server.
 */
export class FakeKeyspace {
  readonly #clock: ServerClock;
  readonly #entries = new Map<string, Entry>();
  /** SHA1s of the scripts this server has cached (by EVAL or SCRIPT LOAD). */
  readonly scripts = new Set<string>();
  /**
   * Makes every absent key look like another owner's lock (a string with a TTL holding
   * {@link OTHER_OWNER_TOKEN}), so no acquisition ever succeeds. Fencing counters are not affected.
   */
  isHeldByAnotherOwner = false;
  /**
   * The server's `run_id` (INFO server): a new one on every {@link restart}, which is how a client can
   * tell that a node restarted, and perhaps lost its keys, since it last answered.
   */
  runId: string = createRunId();
  /** Server-clock time of the last start, for `uptime` (INFO server). */
  startedAtMs: number;
  /** The server's `maxmemory-policy` (INFO memory). */
  maxmemoryPolicy = 'noeviction';

  constructor(clock: ServerClock) {
    this.#clock = clock;
    this.startedAtMs = clock.now();
  }

  /** The server's clock, in milliseconds (what TIME reports). */
  now(): number {
    return this.#clock.now();
  }

  /** Milliseconds since the server last started, on its own clock. */
  get uptimeMs(): number {
    return this.#clock.now() - this.startedAtMs;
  }

  /**
   * Starts the server again after a crash: a new run id, uptime from zero, an empty script cache (Redis
   * never persists it), and the keys kept only with `persistence` (expiry is absolute, so keys whose TTL
   * ran out meanwhile are gone either way).
   */
  restart(options: RestartOptions): void {
    this.flushScripts();
    if (!options.persistence) this.#entries.clear();
    this.runId = createRunId();
    this.startedAtMs = this.#clock.now();
  }

  /**
   * The key's value, or `undefined` once absent (GET); a key is gone from the moment its TTL runs out.
   * Throws WRONGTYPE, as GET does, for a key of another type.
   */
  get(key: string): string | undefined {
    const entry = this.#live(key);
    if (entry !== undefined && entry.type !== 'string') throw new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
    return entry?.value ?? (this.isHeldByAnotherOwner ? OTHER_OWNER_TOKEN : undefined);
  }

  /**
   * Sets a string key, for `ttlMs` or for ever. Every lock key has a TTL; without one the key is no lock
   * (a fencing counter, or data that is not ours).
   */
  set(key: string, value: string, ttlMs = Infinity): void {
    this.#entries.set(key, { type: 'string', value, expiresAtMs: this.#clock.now() + ttlMs });
  }

  /** Creates a key of another type than string, for `ttlMs` or for ever, as HSET or RPUSH would. */
  setOfType(key: string, type: Exclude<FakeKeyType, 'string'>, ttlMs = Infinity): void {
    this.#entries.set(key, { type, value: '', expiresAtMs: this.#clock.now() + ttlMs });
  }

  /**
   * The fields of a hash key (HGETALL), live: changes to the map are the key's. A hash without fields is
   * gone, as in Redis. `undefined` when the key is absent or not a hash.
   */
  hashOf(key: string): Map<string, string> | undefined {
    const entry = this.#live(key);
    return entry?.type === 'hash' ? (entry.fields ??= new Map()) : undefined;
  }

  /** Creates a hash key with `fields` and no TTL, as a first HSET does. */
  createHash(key: string, fields: Map<string, string>): void {
    this.#entries.set(key, { type: 'hash', value: '', fields, expiresAtMs: Infinity });
  }

  /** The key's type (TYPE), `'none'` when absent; an absent key on a node held by another owner is a string. */
  typeOf(key: string): FakeKeyType | 'none' {
    return this.#live(key)?.type ?? (this.isHeldByAnotherOwner ? 'string' : 'none');
  }

  /**
   * What is stored at a key, if anything, ignoring {@link isHeldByAnotherOwner}: its type, its value (`''`
   * for other types) and its remaining milliseconds (`Infinity` without a TTL).
   */
  peek(key: string): { readonly type: FakeKeyType; readonly value: string; readonly remainingMs: number } | undefined {
    const entry = this.#live(key);
    return entry === undefined ? undefined : { type: entry.type, value: entry.value, remainingMs: entry.expiresAtMs - this.#clock.now() };
  }

  /** Resets a live key's TTL (PEXPIRE). */
  pexpire(key: string, ttlMs: number): void {
    const entry = this.#live(key);
    if (entry !== undefined) entry.expiresAtMs = this.#clock.now() + ttlMs;
  }

  /** Deletes a key (DEL); returns 1 if it existed. */
  delete(key: string): number {
    return this.#live(key) !== undefined && this.#entries.delete(key) ? 1 : 0;
  }

  /** Milliseconds until the key expires (PTTL), `undefined` when absent. */
  pttl(key: string): number | undefined {
    return this.peek(key)?.remainingMs;
  }

  /** Every live key. */
  keys(): string[] {
    return [...this.#entries.keys()].filter((key) => this.#live(key) !== undefined);
  }

  /** Forgets every cached script (SCRIPT FLUSH, or a restarted server). */
  flushScripts(): void {
    this.scripts.clear();
  }

  /** The entry of a key that has not expired; drops it once expired, as Redis does on access. */
  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || this.#clock.now() < entry.expiresAtMs) return entry;
    this.#entries.delete(key);
    return undefined;
  }
}
