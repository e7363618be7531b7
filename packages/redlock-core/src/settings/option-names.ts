// Every option's name and where it may be given, and the check that refuses an unknown one with the name
// intended (another scope's option, another library's name, ours in another case).

/** Where an option may be given, and how messages name it. */
const SCOPE_LABELS = {
  Redlock: 'the `Redlock` constructor',
  acquire: '`acquire()`',
  tryAcquire: '`tryAcquire()`',
  using: '`using()`',
  semaphore: '`redlock.semaphore()`',
  acquirePermits: "a semaphore's `acquire()`",
  tryAcquirePermits: "a semaphore's `tryAcquire()`",
  usingPermits: "a semaphore's `using()`",
  acquireReadWrite: "a read-write lock's `acquireRead()` or `acquireWrite()`",
  tryAcquireReadWrite: "a read-write lock's `tryAcquireRead()` or `tryAcquireWrite()`",
  usingReadWrite: "a read-write lock's `usingRead()` or `usingWrite()`",
  election: '`redlock.election()`',
  campaign: "an election's `campaign()` or `lead()`",
  observe: "an election's `observe()`",
} as const;

/** Where an option may be given: see {@link SCOPE_LABELS}. */
export type OptionScope = keyof typeof SCOPE_LABELS;

const PER_CALL = ['acquire', 'tryAcquire', 'using'] as const;
const WAITING = ['Redlock', 'acquire', 'using', 'acquirePermits', 'usingPermits', 'acquireReadWrite', 'usingReadWrite'] as const;
const HELD = ['acquirePermits', 'tryAcquirePermits', 'usingPermits', 'acquireReadWrite', 'tryAcquireReadWrite', 'usingReadWrite'] as const;

/**
 * Every option name, with where it may be given. **A new option is registered here**, in one line: the
 * option objects are checked against this table, so an unknown name is refused before any network call,
 * and a type assertion in options.ts makes the build fail until the table and the option interfaces agree.
 */
export const OPTION_SCOPES = {
  driftFactor: ['Redlock'],
  retryCount: [...WAITING, 'campaign'],
  retryDelayMs: WAITING,
  retryJitterMs: WAITING,
  waitMs: [...WAITING, 'campaign'],
  nodeTimeoutMs: ['Redlock'],
  restartGraceMs: ['Redlock'],
  refuseEvictingNodes: ['Redlock'],
  shortTtlMs: ['Redlock'],
  keyPrefix: ['Redlock'],
  clock: ['Redlock'],
  signal: [...PER_CALL, ...HELD, 'campaign', 'observe'],
  fencing: PER_CALL,
  fair: PER_CALL,
  reentrant: PER_CALL,
  autoExtend: ['acquire', 'tryAcquire', 'acquirePermits', 'tryAcquirePermits', 'acquireReadWrite', 'tryAcquireReadWrite'],
  maxExtensions: [...PER_CALL, ...HELD, 'campaign'],
  maxHoldMs: [...PER_CALL, ...HELD, 'campaign'],
  ttlMs: ['election'],
  pollMs: ['election'],
  limit: ['semaphore'],
  permits: ['acquirePermits', 'tryAcquirePermits', 'usingPermits'],
} as const satisfies Record<string, readonly OptionScope[]>;

type OptionName = keyof typeof OPTION_SCOPES;

/** The option names `scope` takes, by the table: {@link OPTION_SCOPES}. */
export type NamesIn<S extends OptionScope> = { [K in OptionName]: S extends (typeof OPTION_SCOPES)[K][number] ? K : never }[OptionName];

/**
 * The option names each scope accepts, for the check on every call with options: each set made at its
 * scope's first check rather than all when the package loads (some 0.2 ms of every process that loads it).
 */
const NAMES_BY_SCOPE = new Map<OptionScope, ReadonlySet<string>>();

/** What replaces another library's extension setting: there is no interval to tune, only whether to extend. */
const AUTO_EXTEND_HINT = 'use `autoExtend: true` in the options of `acquire()` or `tryAcquire()`, or `using()`, which extend the lock when half its TTL of validity is left';

/**
 * Names other Redis lock libraries use, with what to write here: a caller moving from node-redlock or
 * redis-semaphore gets the intended name instead of an option silently ignored. Names that differ only
 * in case from one of ours are caught without an entry.
 */
const OPTION_ALIASES: Readonly<Record<string, { readonly use: string; readonly from: string }>> = {
  retryDelay: { use: 'write `retryDelayMs` (milliseconds)', from: 'node-redlock' },
  retryJitter: { use: 'write `retryJitterMs` (milliseconds)', from: 'node-redlock' },
  automaticExtensionThreshold: { use: AUTO_EXTEND_HINT, from: 'node-redlock' },
  retryInterval: { use: 'write `retryDelayMs` (milliseconds)', from: 'redis-semaphore' },
  acquireTimeout: { use: 'write `waitMs` (milliseconds)', from: 'redis-semaphore' },
  acquireAttemptsLimit: { use: 'write `retryCount`, the attempts after the first', from: 'redis-semaphore' },
  lockTimeout: { use: 'pass the TTL as the `ttlMs` argument (milliseconds)', from: 'redis-semaphore' },
  refreshInterval: { use: AUTO_EXTEND_HINT, from: 'redis-semaphore' },
  ttl: { use: 'pass the TTL as the `ttlMs` argument (milliseconds)', from: 'other lock libraries' },
  ttlMs: { use: 'pass the TTL as the `ttlMs` argument', from: 'other lock libraries' },
  timeout: {
    use: 'write `waitMs` for how long to wait for the lock, or `nodeTimeoutMs` on the `Redlock` for one call to one node',
    from: 'other lock libraries',
  },
  retries: { use: 'write `retryCount`', from: 'other lock libraries' },
  prefix: { use: 'write `keyPrefix` on the `Redlock`', from: 'other lock libraries' },
};

/** The scope that waits, for each scope that makes one attempt, and what to tell its callers. */
const WAITING_SCOPE_OF: Partial<Record<OptionScope, { readonly scope: OptionScope; readonly use: string }>> = {
  tryAcquire: { scope: 'acquire', use: '`acquire()` to wait for the lock' },
  tryAcquirePermits: { scope: 'acquirePermits', use: '`acquire()` to wait for permits' },
  tryAcquireReadWrite: { scope: 'acquireReadWrite', use: '`acquireRead()` or `acquireWrite()` to wait for the lock' },
};

/**
 * Throws a `TypeError` naming the first option of `given` that `scope` does not take, with the intended
 * name when it is known: another scope's option, one of {@link OPTION_ALIASES}, or ours in another case.
 */
export function checkOptionNames(given: object, scope: OptionScope): void {
  let allowed = NAMES_BY_SCOPE.get(scope);
  if (allowed === undefined) {
    allowed = new Set(Object.entries(OPTION_SCOPES).flatMap(([name, scopes]) => ((scopes as readonly OptionScope[]).includes(scope) ? [name] : [])));
    NAMES_BY_SCOPE.set(scope, allowed);
  }
  for (const name of Object.keys(given)) {
    if (allowed.has(name)) continue;
    const where = `Unknown option \`${name}\` in the options of ${SCOPE_LABELS[scope]}`;
    const scopes: readonly OptionScope[] | undefined = Object.hasOwn(OPTION_SCOPES, name) ? OPTION_SCOPES[name as OptionName] : undefined;
    const waitingScope = WAITING_SCOPE_OF[scope];
    if (waitingScope !== undefined && scopes?.includes(waitingScope.scope) === true) {
      throw new TypeError(`${where}: it makes exactly one attempt, without retrying or waiting; use ${waitingScope.use}`);
    }
    // An alias first: `ttlMs` is an election's option, but given to a lock's call it is the TTL argument.
    const alias = Object.hasOwn(OPTION_ALIASES, name) ? OPTION_ALIASES[name] : undefined;
    if (alias !== undefined) throw new TypeError(`${where}: ${alias.use}; \`${name}\` is the name in ${alias.from}`);
    if (scopes !== undefined) {
      throw new TypeError(`${where}: \`${name}\` is an option of ${scopes.map((other) => SCOPE_LABELS[other]).join(', ')}`);
    }
    const sameButCase = [...allowed].find((known) => known.toLowerCase() === name.toLowerCase());
    if (sameButCase !== undefined) throw new TypeError(`${where}: did you mean \`${sameButCase}\`?`);
    throw new TypeError(`${where}: it takes ${[...allowed].map((known) => `\`${known}\``).join(', ')}`);
  }
}
