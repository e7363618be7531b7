import type { History, LockRecord } from './world.js';

/** What went wrong in a run; `kind` names the invariant. */
export interface Violation {
  readonly kind:
    /** Two owners relied on the same resource at the same true time: mutual exclusion broken. */
    | 'overlap'
    /** A read-modify-write under the lock lost another's update. */
    | 'lost-update'
    /** An owner relied on a lock (acquired, extended, or wrote under it) that fewer than a quorum held. */
    | 'quorum-not-holding'
    /** A write happened outside the validity its owner believed in: using()'s signal aborted too late. */
    | 'commit-outside-validity'
    /** `acquire()` or `using()` handed out a lock whose validity had already run out. */
    | 'expired-when-handed-out'
    /** `extend()` resolved successfully but left the lock without validity. */
    | 'extended-into-expiry'
    /** An extension succeeded although the lock had already expired when it was called. */
    | 'extended-after-expiry'
    /** A failed extension changed the lock's validity. */
    | 'failed-extend-changed-validity'
    /** A failed attempt left a key of its token on a node that answered all its calls. */
    | 'leaked-key'
    /** A lock acquired with `fencing: true` has no integer fencing token ≥ 1, or one without has a token. */
    | 'fencing-token-invalid'
    /**
     * A fenced lock's token is not above that of a fenced lock on a common resource that was handed out
     * before this one's acquisition was called.
     */
    | 'fencing-order'
    /** A call rejected with something other than a RedlockError. */
    | 'untyped-error'
    /** The clients did not all finish: something waited for ever, or spun. */
    | 'hang';
  readonly detail: string;
}

/** Tolerance for comparing true times computed through different clock rates, in milliseconds. */
export const EPSILON_MS = 1e-6;

/** A half-open stretch of true time, [fromMs, untilMs). */
interface Interval {
  readonly fromMs: number;
  readonly untilMs: number;
}

/**
 * The true-time intervals during which the owner relied on the lock: from each acquisition or extension
 * until its clock read the validity's end (or the next extension took over), cut at the release unless
 * `isCutAtRelease` is false (a write and the release may happen at the same instant).
 */
export function holdingIntervals(lock: LockRecord, history: History, isCutAtRelease = true): Interval[] {
  const clock = history.clientClocks[lock.clientIndex];
  if (clock === undefined) throw new Error(`No clock for client ${lock.clientIndex}`);
  return lock.segments.flatMap((segment, index) => {
    const untilMs = Math.min(lock.segments[index + 1]?.fromMs ?? Infinity, isCutAtRelease ? (lock.releasedAtMs ?? Infinity) : Infinity);
    const intervals = clock.intervalsBefore(segment.untilLocalMs, segment.fromMs, untilMs);
    // A write and the release may happen at the instant of the acquisition: a zero-length hold.
    const isHeldAtOnce = untilMs === segment.fromMs && clock.localAt(segment.fromMs) < segment.untilLocalMs;
    return intervals.length === 0 && isHeldAtOnce ? [{ fromMs: untilMs, untilMs }] : intervals;
  });
}

function overlapOf(a: readonly Interval[], b: readonly Interval[]): Interval | undefined {
  for (const x of a) {
    for (const y of b) {
      const fromMs = Math.max(x.fromMs, y.fromMs);
      const untilMs = Math.min(x.untilMs, y.untilMs);
      if (untilMs - fromMs > EPSILON_MS) return { fromMs, untilMs };
    }
  }
  return undefined;
}

function isWithin(atMs: number, intervals: readonly Interval[]): boolean {
  return intervals.some((interval) => atMs >= interval.fromMs - EPSILON_MS && atMs <= interval.untilMs + EPSILON_MS);
}

/** Two fenced locks on common `resources`, `earlier` handed out before `later`'s acquisition was called. */
export interface FencedPair {
  readonly earlier: LockRecord;
  readonly later: LockRecord;
  readonly resources: readonly string[];
}

/**
 * Every pair of fenced locks whose tokens must increase: on a common resource, the first handed out
 * (its `acquire()` or `using()` call resolved) before the second's acquisition was called, in the order
 * the run executed them, so also at the same true time.
 */
export function orderedFencedPairs(history: History): FencedPair[] {
  const fenced = history.locks.filter((lock) => lock.isFenced);
  return fenced.flatMap((earlier) =>
    fenced.flatMap((later) => {
      const resources = earlier.resources.filter((resource) => later.resources.includes(resource));
      // A re-entrant handle shares its hold's token, fencing token included: it is no later acquisition.
      const isSameHold = earlier.token === later.token;
      return resources.length > 0 && !isSameHold && earlier.handedOutAt.order < later.calledAt.order ? [{ earlier, later, resources }] : [];
    }),
  );
}

const isFencingToken = (token: unknown): token is number => Number.isSafeInteger(token) && (token as number) >= 1;

const describeLock = (lock: LockRecord): string => `lock #${lock.id} of client ${lock.clientIndex} (${lock.resources.join(',')}, via ${lock.via})`;
const ms = (value: number): string => value.toFixed(1);

/** Checks one run against every invariant; an empty list means the run was correct. */
export function checkHistory(history: History): Violation[] {
  const violations: Violation[] = [];
  const intervals = new Map(history.locks.map((lock) => [lock.id, holdingIntervals(lock, history)]));
  const lockById = new Map(history.locks.map((lock) => [lock.id, lock]));

  // Mutual exclusion: no two locks on a common resource are relied on at the same true time.
  history.locks.forEach((a, index) => {
    for (const b of history.locks.slice(index + 1)) {
      if (!a.resources.some((resource) => b.resources.includes(resource))) continue;
      // Handles with one token are one hold: a re-entrant acquisition by the same owner.
      if (a.token === b.token) continue;
      const overlap = overlapOf(intervals.get(a.id) ?? [], intervals.get(b.id) ?? []);
      if (overlap !== undefined) {
        violations.push({
          kind: 'overlap',
          detail: `${describeLock(a)} and ${describeLock(b)} were both valid from ${ms(overlap.fromMs)} to ${ms(overlap.untilMs)} ms`,
        });
      }
    }
  });

  // No lost update: each counter ends at the number of writes that included it.
  const resources = new Set(history.commits.flatMap((commit) => commit.resources));
  for (const resource of resources) {
    const expected = history.commits.filter((commit) => commit.resources.includes(resource)).length;
    const actual = history.counters.get(resource) ?? 0;
    if (actual !== expected) {
      violations.push({ kind: 'lost-update', detail: `counter "${resource}" is ${actual} after ${expected} writes under the lock` });
    }
  }

  // Ground truth: whenever an owner relies on the lock, a quorum of nodes holds its token.
  for (const check of history.quorumChecks) {
    if (check.holdingNodes < history.quorum) {
      const lock = lockById.get(check.lockId) as LockRecord;
      violations.push({
        kind: 'quorum-not-holding',
        detail:
          `${describeLock(lock)} was ${check.moment} at ${ms(check.atMs)} ms ` +
          `while only ${check.holdingNodes} nodes held its token, quorum is ${history.quorum}`,
      });
    }
  }

  // A lock is handed out, and an extension succeeds, only with validity left.
  const expiredAtHandOut = new Set<number>();
  for (const lock of history.locks) {
    const first = lock.segments[0];
    const clock = history.clientClocks[lock.clientIndex];
    if (first !== undefined && clock !== undefined && first.untilLocalMs <= clock.localAt(first.fromMs)) {
      expiredAtHandOut.add(lock.id);
      const detail = `${describeLock(lock)} had no validity left when it was handed out at ${ms(first.fromMs)} ms`;
      violations.push({ kind: 'expired-when-handed-out', detail });
    }
  }
  for (const extension of history.extends) {
    if (extension.outcome === 'extended' && extension.remainingAfterMs <= 0) {
      const lock = lockById.get(extension.lockId) as LockRecord;
      const detail = `${describeLock(lock)}: an extension resolved at ${ms(extension.settledAtMs)} ms and left no validity`;
      violations.push({ kind: 'extended-into-expiry', detail });
    }
  }

  // A write under the lock happens inside the validity its owner believed in.
  for (const commit of history.commits) {
    const lock = lockById.get(commit.lockId) as LockRecord;
    // Reported once, as expired-when-handed-out: a routine that writes at once cannot see its signal abort.
    if (expiredAtHandOut.has(lock.id) && commit.committedAtMs === lock.segments[0]?.fromMs) continue;
    const held = holdingIntervals(lock, history, false);
    if (!isWithin(commit.readAtMs, held) || !isWithin(commit.committedAtMs, held)) {
      violations.push({
        kind: 'commit-outside-validity',
        detail:
          `${describeLock(lock)} read at ${ms(commit.readAtMs)} and wrote at ${ms(commit.committedAtMs)} ms, ` +
          `outside its validity ${held.map((interval) => `[${ms(interval.fromMs)}, ${ms(interval.untilMs)})`).join(' ')}`,
      });
    }
  }

  // Extension never lengthens a lock that was lost, and a failed one changes nothing.
  for (const extension of history.extends) {
    const lock = lockById.get(extension.lockId) as LockRecord;
    if (extension.outcome === 'extended' && extension.remainingBeforeMs <= 0) {
      violations.push({
        kind: 'extended-after-expiry',
        detail: `${describeLock(lock)} was extended by a call at ${ms(extension.calledAtMs)} ms, when it had already expired`,
      });
    }
    const { validUntilBeforeMs: before, validUntilAfterMs: after } = extension;
    if (extension.outcome === 'rejected' && after !== undefined && (before === undefined || after > before + EPSILON_MS)) {
      violations.push({
        kind: 'failed-extend-changed-validity',
        detail:
          `${describeLock(lock)}: a failed extension at ${ms(extension.calledAtMs)} ms moved the end of validity ` +
          `from ${before === undefined ? 'expired' : ms(before)} to ${ms(after)} on its clock`,
      });
    }
  }

  for (const leak of history.leaks) {
    violations.push({
      kind: 'leaked-key',
      detail:
        `a failed attempt of client ${leak.clientIndex} left its key on node ${leak.nodeIndex}, ` +
        `which answered every call (checked at ${ms(leak.atMs)} ms)`,
    });
  }
  // Fencing: every fenced lock has a token, an integer from 1, and it is above the token of every fenced
  // lock of a common resource that was handed out before its acquisition was called.
  for (const lock of history.locks) {
    if (lock.isFenced ? !isFencingToken(lock.fencingToken) : lock.fencingToken !== undefined) {
      violations.push({
        kind: 'fencing-token-invalid',
        detail: `${describeLock(lock)}, acquired ${lock.isFenced ? 'with' : 'without'} fencing, has fencing token ${String(lock.fencingToken)}`,
      });
    }
  }
  for (const { earlier, later, resources } of orderedFencedPairs(history)) {
    const [before, after] = [earlier.fencingToken, later.fencingToken];
    if (isFencingToken(before) && isFencingToken(after) && after <= before) {
      violations.push({
        kind: 'fencing-order',
        detail:
          `${describeLock(later)}, called at ${ms(later.calledAt.atMs)} ms, got fencing token ${after}, not above ` +
          `${before} of ${describeLock(earlier)}, handed out at ${ms(earlier.handedOutAt.atMs)} ms (common: ${resources.join(',')})`,
      });
    }
  }

  for (const error of history.untypedErrors) violations.push({ kind: 'untyped-error', detail: error });
  if (history.hang !== undefined) violations.push({ kind: 'hang', detail: history.hang });
  return violations;
}

/** A counterexample, readable: the violations, then the trace of the run (cut to `maxEvents` lines). */
export function describeRun(history: History, violations: readonly Violation[], maxEvents = 80): string {
  const { events: all } = history;
  const events = all.length > maxEvents ? [...all.slice(0, maxEvents), `… ${all.length - maxEvents} more`] : all;
  return [
    ...violations.map((violation) => `✗ ${violation.kind}: ${violation.detail}`),
    `trace (true time):`,
    ...events.map((event) => `  ${event}`),
  ].join('\n');
}
