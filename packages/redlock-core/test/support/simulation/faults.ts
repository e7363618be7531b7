import fc from 'fast-check';
import { MIN_FAIR_LEASE_MS } from '../../../src/acquire/queue-ticket.js';
import type { Notifications } from './sim-node.js';
import type { ClientSpec, FaultSpec, NodeSpec, OpSpec, WorldSpec } from './world.js';

/** The drift factor of every generated world: the core's default. */
export const DRIFT_FACTOR = 0.01;

/** The longest downtime of an early empty restart, in milliseconds: far shorter than any TTL. */
const EARLY_RESTART_MAX_DOWN_MS = 40;

/** Resource names the clients contend for; few, so that they do contend. */
const RESOURCES = ['a', 'b'] as const;

/** Which of the faults Redlock does not survive a world may contain; none by default. */
export interface Hazards {
  /**
   * Crashed nodes may restart empty before the TTLs they granted ran out (no persistence, no delay).
   * Otherwise an empty restart waits longer than the longest TTL, the rule that keeps Redlock safe.
   */
  readonly earlyEmptyRestarts?: boolean;
  /** Node clocks jump forward and client clocks backward, by more than the drift allowance. */
  readonly clockJumps?: boolean;
  /** Client clocks run slow by more than the drift factor allows (10 % to 40 % slow). */
  readonly slowClientClocks?: boolean;
}

/** Bounds of one generated world. */
export interface WorldShape {
  readonly nodeCounts: readonly number[];
  readonly minClients: number;
  readonly maxClients: number;
  readonly maxOpsPerClient: number;
  readonly minFaults: number;
  readonly maxFaults: number;
  /** TTLs of the operations, in milliseconds. */
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  readonly maxRetryCount: number;
  /** How much likelier each hazard fault is than each survivable one. */
  readonly hazardWeight: number;
  /** Shortest hold (or work) of an operation, as a share of its TTL. */
  readonly minHoldShare: number;
  /** Latest start of a fault, in true milliseconds. */
  readonly faultsUntilMs: number;
  /** Whether crashed nodes keep their data: always, never (each restart then waits out every TTL), or either (`undefined`). */
  readonly crashPersistence?: boolean;
}

const DEFAULT_SHAPE: WorldShape = {
  nodeCounts: [3, 5],
  minClients: 2,
  maxClients: 4,
  maxOpsPerClient: 3,
  minFaults: 0,
  maxFaults: 6,
  minTtlMs: 60,
  maxTtlMs: 400,
  maxRetryCount: 4,
  hazardWeight: 1,
  minHoldShare: 0,
  faultsUntilMs: 1_500,
};

/**
 * A duration, uniform: fast-check's usual bias toward small values would make most holds and delays
 * zero, and a lock held for no time meets no fault.
 */
const durationMs = (min: number, max: number): fc.Arbitrary<number> => fc.noBias(fc.integer({ min, max }));
/**
 * A share drawn uniformly from [min, max], in steps of a thousandth of the range. Not `fc.double`, whose
 * draws crowd near zero (it picks among representable doubles), which made most holds and work 0 ms.
 */
const share = (min: number, max: number): fc.Arbitrary<number> => fc.noBias(fc.integer({ min: 0, max: 1000 })).map((step) => min + ((max - min) * step) / 1000);

/** A clock rate within the drift bound for one side (client and node together stay within `DRIFT_FACTOR`), biased to its ends. */
const rateWithinDrift = (): fc.Arbitrary<number> =>
  fc.double({ min: 1 - DRIFT_FACTOR / 2, max: 1 + DRIFT_FACTOR / 2, noNaN: true });

function linkArbitrary(): fc.Arbitrary<NodeSpec['link']> {
  return fc
    .record({
      minLatencyMs: fc.integer({ min: 0, max: 5 }),
      spreadMs: fc.integer({ min: 0, max: 25 }),
      dropRate: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.double({ min: 0, max: 0.2, noNaN: true }) }),
    })
    .map(({ minLatencyMs, spreadMs, dropRate }) => ({ minLatencyMs, maxLatencyMs: minLatencyMs + spreadMs, dropRate }));
}

function opArbitrary(shape: WorldShape): fc.Arbitrary<OpSpec> {
  const resources = fc.shuffledSubarray([...RESOURCES], { minLength: 1 });
  const ttlMs = durationMs(shape.minTtlMs, shape.maxTtlMs);
  const startAfterMs = durationMs(0, 300);
  const byHand = fc
    .record({
      resources,
      ttlMs,
      startAfterMs,
      holdShare: share(shape.minHoldShare, Math.max(shape.minHoldShare, 1.5)),
      extendShare: fc.option(share(0.2, 1.5), { nil: undefined }),
      reenterShare: fc.option(share(0, 1), { nil: undefined, freq: 3 }),
    })
    .map(({ holdShare, extendShare, reenterShare, ...op }): OpSpec => {
      const holdMs = Math.round(op.ttlMs * holdShare);
      return {
        kind: 'acquire',
        ...op,
        holdMs,
        extendEveryMs: extendShare === undefined ? undefined : Math.max(1, Math.round(op.ttlMs * extendShare)),
        ...(reenterShare === undefined ? {} : { reenterAfterMs: Math.round(holdMs * reenterShare) }),
      };
    });
  const withUsing = fc
    .record({
      resources,
      ttlMs,
      startAfterMs,
      workShare: share(shape.minHoldShare, 3),
      steps: fc.integer({ min: 1, max: 8 }),
    })
    .map(({ workShare, steps, ...op }): OpSpec => {
      const workMs = Math.round(op.ttlMs * workShare);
      return { kind: 'using', ...op, workMs, stepMs: Math.max(1, Math.ceil(workMs / steps)) };
    });
  return fc.oneof(byHand, withUsing);
}

/** A fault before index normalisation: `node`/`client` are taken modulo the world's counts. */
function faultArbitrary(hazards: Hazards, shape: WorldShape): fc.Arbitrary<FaultSpec> {
  const { hazardWeight } = shape;
  const node = fc.integer({ min: 0, max: 4 });
  const atMs = durationMs(0, shape.faultsUntilMs);
  const forMs = durationMs(0, 600);
  const survivable: fc.Arbitrary<FaultSpec>[] = [
    // Down for `downForMs`; an empty restart's delay is raised past the longest TTL when normalising.
    fc.record({ kind: fc.constant('crash' as const), node, atMs, downForMs: forMs, persistence: shape.crashPersistence === undefined ? fc.boolean() : fc.constant(shape.crashPersistence) }),
    fc.record({ kind: fc.constant('pause' as const), node, atMs, forMs }),
    fc.record({ kind: fc.constant('slow' as const), node, atMs, forMs, extraLatencyMs: durationMs(10, 200) }),
    fc.record({ kind: fc.constant('partition' as const), node, atMs, forMs }),
  ];
  const hazardous: fc.Arbitrary<FaultSpec>[] = [];
  if (hazards.earlyEmptyRestarts) {
    hazardous.push(
      fc.record({
        kind: fc.constant('crash' as const),
        node,
        atMs,
        downForMs: durationMs(0, EARLY_RESTART_MAX_DOWN_MS),
        persistence: fc.constant(false),
      }),
    );
  }
  if (hazards.clockJumps) {
    hazardous.push(
      fc.record({ kind: fc.constant('node-clock-jump' as const), node, atMs, jumpMs: durationMs(20, 400) }),
      fc.record({ kind: fc.constant('client-clock-jump' as const), client: node, atMs, jumpMs: durationMs(20, 400).map((ms) => -ms) }),
    );
  }
  return fc.oneof(
    ...survivable.map((arbitrary) => ({ weight: 1, arbitrary })),
    ...hazardous.map((arbitrary) => ({ weight: hazardWeight, arbitrary })),
  );
}

/**
 * Worlds of `shape`, with the `hazards` Redlock does not survive; without hazards, every fault is one
 * Redlock must survive (crashes with persistence or with a restart delayed past every TTL, pauses, slow
 * and lossy links, partitions of any number of nodes, clock rates within the drift factor).
 */
export function worldArbitrary(hazards: Hazards = {}, shape: Partial<WorldShape> = {}): fc.Arbitrary<WorldSpec> {
  const bounds = { ...DEFAULT_SHAPE, ...shape };
  const clientRate = hazards.slowClientClocks
    ? share(0.6, 0.9)
    : rateWithinDrift();
  return fc
    .record({
      nodes: fc.constantFrom(...bounds.nodeCounts).chain((count) =>
        fc.array(fc.record({ clockRate: rateWithinDrift(), link: linkArbitrary() }), { minLength: count, maxLength: count }),
      ),
      clients: fc.array(
        fc.record({
          clockRate: clientRate,
          notifications: fc.constantFrom<Notifications>(false, true, true, 'pattern'),
          ops: fc.array(opArbitrary(bounds), { minLength: 1, maxLength: bounds.maxOpsPerClient }),
        }),
        { minLength: bounds.minClients, maxLength: bounds.maxClients },
      ),
      faults: fc.array(faultArbitrary(hazards, bounds), { minLength: bounds.minFaults, maxLength: bounds.maxFaults }),
      redlock: fc.record({
        driftFactor: fc.constant(DRIFT_FACTOR),
        retryCount: fc.integer({ min: 0, max: bounds.maxRetryCount }),
        retryDelayMs: durationMs(0, 40),
        retryJitterMs: durationMs(0, 20),
        nodeTimeoutMs: fc.constantFrom(undefined, 15, 30),
        // Restart detection on in a third of the worlds, with a grace longer than every TTL.
        restartGraceMs: fc.constantFrom(0, 0, 1_000),
      }),
      noiseSeed: fc.noShrink(fc.integer()),
    })
    .map((world) => normaliseWorld(world, hazards));
}

/** The longest time a key may live, in true milliseconds, on a node whose clock runs slow within the bound. */
function longestKeyLifetimeMs(clients: readonly ClientSpec[]): number {
  const longestTtlMs = Math.max(0, ...clients.flatMap((client) => client.ops.map((op) => op.ttlMs)));
  return Math.ceil(longestTtlMs / (1 - DRIFT_FACTOR / 2)) + 1;
}

/**
 * Maps fault indices onto the world's nodes and clients, and applies the delayed-restart rule to empty
 * restarts unless `earlyEmptyRestarts` allows them.
 */
function normaliseWorld(world: WorldSpec, hazards: Hazards): WorldSpec {
  const lifetimeMs = longestKeyLifetimeMs(world.clients);
  const faults = world.faults.map((fault): FaultSpec => {
    if (fault.kind === 'client-clock-jump' || fault.kind === 'client-crash') return { ...fault, client: fault.client % world.clients.length };
    const node = fault.node % world.nodes.length;
    if (fault.kind === 'crash' && !fault.persistence && !(hazards.earlyEmptyRestarts && fault.downForMs <= EARLY_RESTART_MAX_DOWN_MS)) {
      return { ...fault, node, downForMs: lifetimeMs + fault.downForMs };
    }
    return { ...fault, node };
  });
  return { ...world, faults };
}

/** Worlds where clients contend hard and often, so that a hazard meets a lock that is held. */
const CONTENDED: Partial<WorldShape> = {
  nodeCounts: [3],
  minClients: 3,
  maxClients: 4,
  minFaults: 4,
  maxFaults: 10,
  minTtlMs: 150,
  maxTtlMs: 400,
  maxRetryCount: 20,
  hazardWeight: 10,
  minHoldShare: 0.5,
  faultsUntilMs: 800,
};

/**
 * Worlds with crashed nodes that restart empty before the TTLs they granted ran out, and restart detection
 * off (`restartGraceMs` 0, the default); a property turns it on through `runWorld()`'s options.
 */
export function earlyEmptyRestartWorld(): fc.Arbitrary<WorldSpec> {
  return worldArbitrary({ earlyEmptyRestarts: true }, CONTENDED).map((world) => ({ ...world, redlock: { ...world.redlock, restartGraceMs: 0 } }));
}

/** Worlds where node clocks jump forward and client clocks backward, beyond the drift allowance. */
export function clockJumpWorld(): fc.Arbitrary<WorldSpec> {
  return worldArbitrary({ clockJumps: true }, CONTENDED);
}

/** Worlds where client clocks run slower than the drift factor allows. */
export function slowClientClockWorld(): fc.Arbitrary<WorldSpec> {
  return worldArbitrary({ slowClientClocks: true }, CONTENDED);
}

/** A one-line summary of the faults in a world, for logs. */
export function describeFaults(world: WorldSpec): string {
  const counts = new Map<string, number>();
  for (const fault of world.faults) {
    const name = fault.kind === 'crash' ? `crash (${fault.persistence ? 'persistent' : 'empty'})` : fault.kind;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, count]) => `${count} ${name}`).join(', ') || 'none';
}

/**
 * Worlds where a majority of nodes behaves: one client (so nobody contends), faults only on a minority of
 * nodes, and the majority on fast, lossless links well inside the per-node timeout. By-hand holds end
 * well inside the TTL, so every operation should succeed.
 */
export function faultyMinorityWorld(shape: Partial<WorldShape> = {}): fc.Arbitrary<WorldSpec> {
  return worldArbitrary({}, { minClients: 1, maxClients: 1, maxFaults: 8, ...shape }).map((world): WorldSpec => {
    const minority = Math.floor(world.nodes.length / 2);
    return {
      ...world,
      nodes: world.nodes.map((node, index) => (index < minority ? node : { ...node, link: { minLatencyMs: 0, maxLatencyMs: 5, dropRate: 0 } })),
      faults: world.faults.map((fault) => (fault.kind === 'client-clock-jump' || fault.kind === 'client-crash' ? fault : { ...fault, node: fault.node % minority })),
      clients: world.clients.map((client) => ({
        ...client,
        ops: client.ops.map((op) => (op.kind === 'acquire' ? { ...op, holdMs: Math.floor(op.ttlMs / 4), extendEveryMs: undefined } : op)),
      })),
      redlock: { ...world.redlock, nodeTimeoutMs: undefined },
    };
  });
}

/**
 * {@link faultyMinorityWorld} with 2 to 4 clients running the same operations on the same resources, every
 * one waiting for release notifications (so woken attempts ask the node that woke them first, which may be among the
 * faulty minority; in half the worlds the first client hears them through the pattern of every wake, as GLIDE does), with retries enough to outlast the others' holds, and TTLs of 300 ms or more, so that an
 * acquisition slowed by a split vote still leaves validity for the work: every operation should succeed.
 * Work stays under an eighth of the TTL, short of the first automatic extension: a contended lock may be
 * granted by a bare quorum, and one node of it turning slow then rightly fails the extension.
 */
export function contendedMinorityWorld(): fc.Arbitrary<WorldSpec> {
  // TTLs are drawn before the faults, so empty restarts still come back after every TTL.
  return faultyMinorityWorld({ minTtlMs: 300, maxTtlMs: 600 }).chain((world) =>
    fc.tuple(fc.integer({ min: 2, max: 4 }), fc.boolean()).map(([clientCount, firstByPattern]): WorldSpec => {
      const template = world.clients[0] as ClientSpec;
      const ops = template.ops.map((op): OpSpec => {
        if (op.kind !== 'using') return op;
        const workMs = Math.min(op.workMs, Math.floor(op.ttlMs / 8));
        return { ...op, workMs, stepMs: Math.max(1, Math.min(op.stepMs, workMs)) };
      });
      return {
        ...world,
        clients: Array.from({ length: clientCount }, (_, index) => ({ ...template, ops, notifications: index === 0 && firstByPattern ? 'pattern' : true })),
        redlock: { ...world.redlock, retryCount: 500 },
      };
    }),
  );
}

/**
 * Has every acquisition of the generated worlds take the lock in turn (`'every'`: `{ fair: true }`), or a
 * generated share of them (`'some'`: the others are default calls, which may take a free lock first).
 */
export function withFair(world: fc.Arbitrary<WorldSpec>, which: 'every' | 'some'): fc.Arbitrary<WorldSpec> {
  return withOpFlag(world, 'fair', which);
}

/**
 * Has every acquisition of the generated worlds ask for a fencing token (`'every'`), or a generated
 * share of them (`'some'`: the others acquire without one, between fenced ones, and must get none).
 */
export function withFencing(world: fc.Arbitrary<WorldSpec>, which: 'every' | 'some'): fc.Arbitrary<WorldSpec> {
  return withOpFlag(world, 'fencing', which);
}

/** Sets option `flag` on every acquisition of the generated worlds (`'every'`), or on a generated share of them (`'some'`). */
function withOpFlag(world: fc.Arbitrary<WorldSpec>, flag: 'fair' | 'fencing', which: 'every' | 'some'): fc.Arbitrary<WorldSpec> {
  return world.chain((spec) => {
    const flags = spec.clients.map((client) =>
      which === 'every' ? fc.constant(client.ops.map(() => true)) : fc.array(fc.boolean(), { minLength: client.ops.length, maxLength: client.ops.length }),
    );
    return fc.tuple(...flags).map(
      (isSet): WorldSpec => ({
        ...spec,
        clients: spec.clients.map((client, clientIndex) => ({
          ...client,
          ops: client.ops.map((op, opIndex) => ({ ...op, [flag]: isSet[clientIndex]?.[opIndex] === true })),
        })),
      }),
    );
  });
}

/**
 * Three nodes, clients that contend, and (see {@link fencedWorld}) lossy links: the worlds where a
 * fencing token reaches fewer nodes than a quorum, and a later granting quorum can miss it.
 */
const LOSSY: Partial<WorldShape> = { nodeCounts: [3], minClients: 3, maxClients: 4, maxOpsPerClient: 4, minFaults: 2 };

/** The share of messages each node's link loses in a {@link LOSSY} world: uniform in these bounds. */
const LOSSY_DROP_RATES = { min: 0.1, max: 0.3 } as const;

/**
 * Worlds with the faults Redlock survives (see {@link worldArbitrary}) where some or all acquisitions ask
 * for a fencing token, and every crashed node comes back with its data. A third are {@link LOSSY}, every
 * acquisition fenced: without them, a core that took one node's store of the token for enough went
 * unnoticed in 3000 worlds; with them, most runs of 200 worlds catch it.
 * A fencing counter must outlive every lock, so an empty restart loses it however long it is delayed:
 * the delayed-restart rule that keeps mutual exclusion does not keep fencing (see
 * {@link fencedEmptyRestartWorld}).
 */
export function fencedWorld(): fc.Arbitrary<WorldSpec> {
  const lossy = fc
    .tuple(worldArbitrary({}, LOSSY), fc.array(share(LOSSY_DROP_RATES.min, LOSSY_DROP_RATES.max), { minLength: 3, maxLength: 3 }))
    .map(([world, dropRates]): WorldSpec => ({
      ...world,
      nodes: world.nodes.map((node, index) => ({ ...node, link: { ...node.link, dropRate: dropRates[index] ?? 0 } })),
    }));
  const usual = worldArbitrary().map(withPersistentCrashes);
  return fc.oneof(withFencing(usual, 'every'), withFencing(usual, 'some'), withFencing(lossy.map(withPersistentCrashes), 'every'));
}

/** `world` with every crashed node back with its data. */
export function withPersistentCrashes(world: WorldSpec): WorldSpec {
  return { ...world, faults: world.faults.map((fault) => (fault.kind === 'crash' ? { ...fault, persistence: true } : fault)) };
}

/**
 * The worlds of {@link earlyEmptyRestartWorld} (contended; crashed nodes mostly restart empty before the
 * TTLs they granted ran out) with every acquisition fenced. Restart detection is off; a property turns it
 * on through `runWorld()`'s options.
 */
export function fencedEmptyRestartWorld(): fc.Arbitrary<WorldSpec> {
  return withFencing(earlyEmptyRestartWorld(), 'every');
}

/**
 * Worlds with the faults Redlock survives (see {@link worldArbitrary}) where every crashed node restarts
 * empty, after every TTL it granted ran out: the restarts the README allows for nodes without
 * persistence, in 2 to 8 faults. Fencing counters are lost with them, so a token (an election's term)
 * may start again where no lock held across the restart set them again.
 */
export function emptyRestartWorld(): fc.Arbitrary<WorldSpec> {
  return worldArbitrary({}, { crashPersistence: false, minFaults: 2, maxFaults: 8 }).filter((world) => world.faults.some((fault) => fault.kind === 'crash'));
}

/** The clients a world crashes (its `'client-crash'` faults). */
export function crashedClientsOf(spec: WorldSpec): Set<number> {
  return new Set(spec.faults.flatMap((fault) => (fault.kind === 'client-crash' ? [fault.client] : [])));
}

/**
 * How long, at most, another client may wait for a lock or permits in a world that crashes a client: the crashed
 * one's keys are waited out (the longest TTL), and its place in the queues for as long as a lease, twice over.
 */
export function twoLeasesPastLongestTtlMs(spec: WorldSpec): number {
  return Math.max(...spec.clients.flatMap((client) => client.ops.map((op) => op.ttlMs))) + 2 * MIN_FAIR_LEASE_MS;
}

/** How long the connections of a client that froze rather than died stay open: longer than any world runs. */
export const FROZEN_CLIENT_LINGER_MS = 600_000;

/**
 * The worlds of `world` with one client that crashes (see `SimConnection.crash`) within the first 800 ms:
 * waiting, holding, or between operations; its connections close 0-50 ms later, or in a quarter of the
 * worlds never ({@link FROZEN_CLIENT_LINGER_MS}: a process paused for good, or a machine gone whose sockets
 * the nodes never see close). A client that hears wakes
 * through the pattern of every wake channel is never the one: its node counts every wake as heard for as long
 * as the pattern is held, which outlives the client here. Retries outlast every TTL (a crashed holder's keys
 * are waited out, not released).
 */
export function withClientCrash(world: fc.Arbitrary<WorldSpec>): fc.Arbitrary<WorldSpec> {
  return world.chain((spec) => {
    const crashable = spec.clients.flatMap((client, clientIndex) => (client.notifications === true ? [clientIndex] : []));
    if (crashable.length === 0) return fc.constant(spec);
    return fc.record({ client: fc.constantFrom(...crashable), atMs: durationMs(0, 800), lingerMs: fc.oneof(durationMs(0, 50), durationMs(0, 50), durationMs(0, 50), fc.constant(FROZEN_CLIENT_LINGER_MS)) }).map(
      (crash): WorldSpec => ({
        ...spec,
        faults: [...spec.faults, { kind: 'client-crash', ...crash }],
        redlock: { ...spec.redlock, retryCount: Math.max(spec.redlock.retryCount, 5_000) },
      }),
    );
  });
}
