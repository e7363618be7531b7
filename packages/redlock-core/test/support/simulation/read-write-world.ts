import fc from 'fast-check';
import { type ReadWriteHandle, type ReadWriteLock, ReadWriteLockError, type ReadWriteMode } from '../../../src/index.js';
import { type ClaimClient, type ClaimHistory, claimHistoryOf, ClaimWorld, endRelianceAtCrash, holdByHand, type Reliance, startReliance, waitOn } from './claim-world.js';
import { contendedMinorityWorld } from './faults.js';
import { type LeftBehind, LeftBehindChecks } from './left-behind.js';
import type { CallRecord } from './sim-node.js';
import { type ClientSpec, type OpSpec, recordError, type WorldSpec } from './world.js';

// The worlds of world.ts with a read-write lock in place of the lock: each operation of a client takes one
// read-write lock for reading or for writing (by hand, or with usingRead/usingWrite, whose automatic
// extension keeps it), holds it and lets go of it. The history records, for every hold, the true-time
// interval in which its holder relied on it (see claim-world.ts), every acquisition, and what a client
// left on the nodes of what it was done with: the entries of failed attempts and of released holders,
// and writers' intents.

/** The read-write lock every client of a world uses. */
export const READ_WRITE_RESOURCE = 'catalog';

/** A world of clients sharing one read-write lock. */
export interface ReadWriteWorldSpec {
  readonly world: WorldSpec;
  /** The mode of each operation, by client, then by operation. */
  readonly modes: readonly (readonly ReadWriteMode[])[];
  /**
   * By client: whether it reads back to back, repeating its operations (as reads, each starting at once)
   * until every other client is done: a stream of readers.
   */
  readonly streaming: readonly boolean[];
}

/** One hold of the lock, and the interval in which its holder relied on it. */
export interface ReadWriteRecord extends Reliance {
  /** Its place in `holds`, which the trace names it by (`#3`). */
  readonly id: number;
  readonly mode: ReadWriteMode;
  /** `remainingValidityMs` when the acquisition handed it out. */
  readonly validityMs: number;
}

/** One acquisition, held or not: a call of `acquireRead/Write()` or `usingRead/Write()`. */
export interface AcquisitionRecord {
  readonly clientIndex: number;
  readonly mode: ReadWriteMode;
  readonly calledAtMs: number;
  /** When it handed out the lock, or rejected; `undefined` while it runs. */
  settledAtMs: number | undefined;
  isHeld: boolean;
}

/** What a client may not leave on a node once done with it: see {@link runReadWriteWorld}. */
export type LeftBehindKind = 'failed-attempt' | 'released-holder' | 'writer-intent';

export interface ReadWriteHistory extends ClaimHistory {
  readonly readWrite: ReadWriteWorldSpec;
  readonly holds: ReadWriteRecord[];
  readonly acquisitions: AcquisitionRecord[];
  readonly leftBehind: LeftBehind<LeftBehindKind>[];
}

const isReadWriteError = (error: unknown): boolean => error instanceof ReadWriteLockError;

/**
 * Runs one world, deterministically, and returns what happened. What a client is done with is checked
 * on every node whose calls carrying it were all answered (see left-behind.ts), at every acquisition's
 * start and end and at the end of the run: the entries of its failed attempts once the acquisition
 * settled, its hold's entry once released, and a writer's intent once the writer gave up or released.
 */
export async function runReadWriteWorld(readWrite: ReadWriteWorldSpec): Promise<ReadWriteHistory> {
  const history: ReadWriteHistory = { ...claimHistoryOf(readWrite.world), readWrite, holds: [], acquisitions: [], leftBehind: [] };
  const world = new ClaimWorld(history);
  const checks = new LeftBehindChecks<LeftBehindKind>(world.nodes, history.calls);
  const sweep = (): void => {
    for (const found of checks.sweep(world.clock.now())) {
      history.leftBehind.push(found);
      world.log(`client ${found.clientIndex}: LEFT BEHIND on node ${found.nodeIndex}: ${found.kind}`);
    }
  };
  const lockTaker: LockTaker = { history, checks, sweep, tokensOf: readWrite.world.clients.map(() => new Set()) };
  // The clients that do not stream, until each is done: the streaming readers read until then (or until each crashed).
  const left = new Set(readWrite.streaming.flatMap((isStreaming, clientIndex) => (isStreaming ? [] : [clientIndex])));
  const clients = new Map<number, ClaimClient>();
  const isAnyOtherLeft = (): boolean => [...left].some((clientIndex) => clients.get(clientIndex)?.isCrashed !== true);
  await world.run(async (client) => {
    clients.set(client.clientIndex, client);
    const lock = client.redlock.readWriteLock(READ_WRITE_RESOURCE);
    const { ops } = client.spec;
    if (readWrite.streaming[client.clientIndex] === true) {
      await waitOn(client, ops[0]?.startAfterMs ?? 0);
      for (let round = 0; isAnyOtherLeft() && !client.isCrashed; round += 1) await takeLock(lockTaker, client, lock, ops[round % ops.length] as OpSpec, 'read');
      return;
    }
    try {
      for (const [index, op] of ops.entries()) {
        await waitOn(client, op.startAfterMs);
        await takeLock(lockTaker, client, lock, op, readWrite.modes[client.clientIndex]?.[index] ?? 'read');
        if (client.isCrashed) return;
      }
    } finally {
      left.delete(client.clientIndex);
    }
  });
  sweep();
  endRelianceAtCrash(readWrite.world, history.holds);
  return history;
}

/** What an operation records into, and checks with. */
interface LockTaker {
  readonly history: ReadWriteHistory;
  readonly checks: LeftBehindChecks<LeftBehindKind>;
  readonly sweep: () => void;
  /** By client: the tokens of its acquisitions so far. */
  readonly tokensOf: readonly Set<string>[];
}

/** One operation: takes the lock in `mode`, holds it as `op` says and lets go of it, recording all of it. */
async function takeLock(taker: LockTaker, client: ClaimClient, lock: ReadWriteLock, op: OpSpec, mode: ReadWriteMode): Promise<void> {
  const { history, checks, sweep } = taker;
  const { clientIndex, clock, log } = client;
  const knownTokens = taker.tokensOf[clientIndex] as Set<string>;
  const firstCall = history.calls.length;
  const acquisition: AcquisitionRecord = { clientIndex, mode, calledAtMs: clock.now(), settledAtMs: undefined, isHeld: false };
  history.acquisitions.push(acquisition);
  sweep();
  let winningToken: string | undefined;
  let holdId: number | undefined;
  /** The acquisition handed out `handle`, or rejected: the cleanups of its failed attempts have run. */
  const settle = (handle: ReadWriteHandle | undefined): ReadWriteRecord | undefined => {
    acquisition.settledAtMs = clock.now();
    acquisition.isHeld = handle !== undefined;
    const tokens = attemptTokensOf(history.calls, firstCall, clientIndex, knownTokens);
    // The attempt that won is the last one.
    winningToken = handle === undefined ? undefined : tokens.at(-1);
    // A crashed client cleans up nothing: what it left waits for its TTL.
    if (!client.isCrashed) for (const token of tokens) if (token !== winningToken) checks.expectGone('failed-attempt', clientIndex, token);
    sweep();
    if (handle === undefined) return undefined;
    const hold: ReadWriteRecord = { id: history.holds.length, clientIndex, mode, validityMs: handle.remainingValidityMs, fromMs: clock.now(), untilMs: Infinity };
    history.holds.push(hold);
    holdId = hold.id;
    log(`client ${clientIndex}: ${mode} #${hold.id} held (attempt ${handle.attempts}), validity ${handle.remainingValidityMs.toFixed(1)} ms`);
    return hold;
  };
  try {
    if (op.kind === 'acquire') {
      const handle = await (mode === 'read' ? lock.acquireRead(op.ttlMs) : lock.acquireWrite(op.ttlMs));
      await holdByHand(handle, op, client, settle(handle) as ReadWriteRecord, isReadWriteError);
    } else {
      const routine = async (signal: AbortSignal, handle: ReadWriteHandle): Promise<void> => {
        const letGo = startReliance(handle, client, settle(handle) as ReadWriteRecord);
        try {
          for (let workedMs = 0; workedMs < op.workMs; workedMs += op.stepMs) {
            await waitOn(client, Math.min(op.stepMs, op.workMs - workedMs));
            signal.throwIfAborted();
          }
        } finally {
          letGo();
        }
      };
      await (mode === 'read' ? lock.usingRead(op.ttlMs, routine) : lock.usingWrite(op.ttlMs, routine));
    }
  } catch (error) {
    if (acquisition.settledAtMs === undefined) settle(undefined);
    if (!client.isCrashed) recordError(history, clientIndex, log, error);
  }
  if (client.isCrashed) return;
  // Done with it: released what it held, or gave up (and withdrew a writer's intent).
  if (holdId !== undefined) log(`client ${clientIndex}: ${mode} #${holdId} released`);
  if (winningToken !== undefined) checks.expectGone('released-holder', clientIndex, winningToken);
  for (const intentId of intentIdsOf(history.calls, firstCall, clientIndex)) checks.expectGone('writer-intent', clientIndex, intentId);
  sweep();
}

/**
 * The tokens of the acquire calls a client sent from call `firstCall` on, in the order they first
 * appear: one per attempt. A token of an earlier acquisition (`known`, which this adds to) is not one: a
 * node that lost its scripts makes the core send an earlier call again, by EVAL, maybe after this began.
 */
function attemptTokensOf(calls: readonly CallRecord[], firstCall: number, clientIndex: number, known: Set<string>): string[] {
  const tokens: string[] = [];
  for (const call of calls.slice(firstCall)) {
    if (call.clientIndex !== clientIndex || call.script !== 'read-write-acquire' || call.token === undefined || known.has(call.token)) continue;
    known.add(call.token);
    tokens.push(call.token);
  }
  return tokens;
}

/** The intent ids (`ARGV[5]`, `''` for a reader) a client's acquire calls carried from call `firstCall` on. */
function intentIdsOf(calls: readonly CallRecord[], firstCall: number, clientIndex: number): string[] {
  const ids = calls.slice(firstCall).filter((call) => call.clientIndex === clientIndex && call.script === 'read-write-acquire').map((call) => call.args[4] ?? '');
  return [...new Set(ids)].filter((id) => id !== '');
}

/** Generated worlds with a generated mode for every operation, none of them streaming. */
export function withModes(worlds: fc.Arbitrary<WorldSpec>): fc.Arbitrary<ReadWriteWorldSpec> {
  return worlds.chain((world) =>
    fc
      .tuple(...world.clients.map((client) => fc.array(fc.constantFrom<ReadWriteMode>('read', 'write'), { minLength: client.ops.length, maxLength: client.ops.length })))
      .map((modes): ReadWriteWorldSpec => ({ world, modes, streaming: world.clients.map(() => false) })),
  );
}

/**
 * The worlds of {@link contendedMinorityWorld} (a faulty minority of nodes; retries enough to outlast the
 * others' holds) where 2 or 3 readers read back to back, staggered so that at every moment one of them
 * holds the lock or is about to take it again, until 1 or 2 writers, arriving while the stream runs, have
 * each written 1 to 3 times. Without a writer's intent refusing new readers, the writers would wait for
 * a moment without a reader, which never comes. Every client waits for release notifications, or not.
 */
export function readerStreamWorld(): fc.Arbitrary<ReadWriteWorldSpec> {
  return contendedMinorityWorld().chain((world) =>
    fc.tuple(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.array(fc.boolean(), { minLength: 5, maxLength: 5 })).map(([readerCount, writerCount, notifications]): ReadWriteWorldSpec => {
      const writers = world.clients.slice(0, writerCount);
      // The longest TTL of the world: empty restarts come back after it (see faults.ts).
      const ttlMs = Math.max(...writers.flatMap((client) => client.ops.map((op) => op.ttlMs)));
      const holdMs = Math.floor(ttlMs / 4);
      const readers = Array.from({ length: readerCount }, (_, index): ClientSpec => ({
        clockRate: writers[index % writers.length]?.clockRate ?? 1,
        notifications: notifications[index] ?? true,
        ops: [{ kind: 'acquire', resources: [READ_WRITE_RESOURCE], ttlMs, startAfterMs: Math.round((index * holdMs) / readerCount), holdMs, extendEveryMs: undefined }],
      }));
      // Each writer's first operation starts once the stream runs.
      const arriving = writers.map(
        (client, index): ClientSpec => ({
          ...client,
          notifications: notifications[readerCount + index] ?? true,
          ops: client.ops.map((op, opIndex) => (opIndex === 0 ? { ...op, startAfterMs: op.startAfterMs + holdMs } : op)),
        }),
      );
      const clients = [...readers, ...arriving];
      return {
        world: { ...world, clients },
        modes: clients.map((client, index) => client.ops.map((): ReadWriteMode => (index < readerCount ? 'read' : 'write'))),
        streaming: clients.map((_, index) => index < readerCount),
      };
    }),
  );
}
