import type { Topology } from './bench-nodes.js';
import type { Contender, ContenderDefinition, RetryPolicy } from './contenders/contender.js';
import { median } from './measure/percentiles.js';
import type { SamplePlan } from './plan.js';
import type { SampleValues } from './measure/sample-values.js';
import type { ContenderResult, ScenarioContext } from './scenario.js';
import { settleWithin } from './settle-within.js';

/**
 * One sample of one contender; `round` is -1 for the warm-up, whose figures are dropped. `instances` are
 * independent instances of the contender (own clients each), as many as the scenario asked for;
 * `contender` is the first.
 */
export type RunSample = (sample: {
  readonly definition: ContenderDefinition;
  readonly contender: Contender;
  readonly instances: readonly Contender[];
  readonly round: number;
  readonly durationMs: number;
}) => Promise<SampleValues>;

/**
 * Samples every contender round by round: one warm-up each (unless the plan skips it), then in every
 * round each contender once, in an order shuffled afresh each round, so slow drifts of the machine
 * (thermal, other load) spread over all of them instead of favouring whoever runs first, and no contender
 * always follows the same one, whose garbage (collected during the next sample) it would pay for in every
 * round, as it did when the order was rotated by one per round. A contender that cannot be
 * built or whose sample fails gets `n/a` with the error's message and is left out of later rounds.
 */
export async function runInterleavedRounds(
  context: ScenarioContext,
  options: {
    readonly topology: Topology;
    readonly retry: RetryPolicy;
    readonly plan: SamplePlan;
    readonly label: string;
    /** Independent instances per contender. @defaultValue 1 */
    readonly instances?: number;
    /**
     * How long building a contender may take, in milliseconds, before it gets `n/a` (e.g. a library that
     * waits for a node that never answers). @defaultValue no bound
     */
    readonly buildTimeoutMs?: number;
    /** Uniform in [0, 1), for the order of each round (tests pass a seeded one). @defaultValue `Math.random` */
    readonly random?: () => number;
  },
  runSample: RunSample,
): Promise<ContenderResult[]> {
  const { topology, retry, plan, label, instances = 1, buildTimeoutMs = Number.POSITIVE_INFINITY, random = Math.random } = options;
  // One instance after another, so that the client matrix (a few dozen contenders, S3's 8 instances each)
  // does not open all its connections at once: on a busy machine 8 node-redis instances opened together
  // took 4-6 s, past the bench's 5 s connection timeout.
  const entries: { definition: ContenderDefinition; instances: Contender[]; rounds: SampleValues[]; na: string | undefined }[] = [];
  for (const definition of context.contenders) {
    const rounds: SampleValues[] = [];
    const building = buildInstances(context, definition, { topology, retry, instances });
    const built = Number.isFinite(buildTimeoutMs) ? await settleWithin(building, buildTimeoutMs) : (await Promise.allSettled([building]))[0];
    if (built.status === 'fulfilled') {
      // Between its own samples a contender costs the others nothing it can stop (see `Contender.suspend`).
      await Promise.all(built.value.map((instance) => instance.suspend?.()));
      entries.push({ definition, instances: built.value, rounds, na: undefined });
      continue;
    }
    const na = built.status === 'rejected' ? `cannot be built: ${describe(built.reason)}` : `cannot be built: not ready within ${buildTimeoutMs} ms`;
    entries.push({ definition, instances: [], rounds, na });
  }
  const sample = async (entry: (typeof entries)[number], round: number, durationMs: number): Promise<void> => {
    if (entry.na !== undefined) return;
    try {
      const [contender] = entry.instances;
      if (contender === undefined) throw new Error('no instance was built');
      await Promise.all(entry.instances.map((instance) => instance.resume?.()));
      try {
        const values = await runSample({ definition: entry.definition, contender, instances: entry.instances, round, durationMs });
        if (round >= 0) entry.rounds.push(values);
      } finally {
        await Promise.all(entry.instances.map((instance) => instance.suspend?.()));
      }
    } catch (error) {
      entry.na = `failed: ${describe(error)}`;
      context.log(`  ${entry.definition.name}: ${entry.na}`);
    }
  };

  if (plan.warmupMs > 0) {
    context.log(`${label}: warm-up`);
    for (const entry of entries) await sample(entry, -1, plan.warmupMs);
  }
  for (let round = 0; round < plan.rounds; round += 1) {
    context.log(`${label}: round ${round + 1} of ${plan.rounds}`);
    for (const entry of shuffled(entries, random)) await sample(entry, round, plan.sampleMs);
  }

  return entries.map(({ definition, rounds, na }) => ({
    name: definition.name,
    kind: definition.kind,
    client: definition.client,
    packageName: definition.packageName,
    ...(na === undefined ? { values: medianPerKey(rounds), rounds } : { na }),
  }));
}

/** `5 rounds × 2 s, median`, for the report. */
export function describeSampling(plan: SamplePlan): string {
  const rounds = plan.rounds === 1 ? '1 round' : `${plan.rounds} rounds`;
  return `${rounds} × ${plan.sampleMs / 1000} s per contender, interleaved${plan.rounds > 1 ? ', median' : ''}`;
}

/** Instances `0` to `instances - 1` of `definition`, built one after another. */
async function buildInstances(
  context: ScenarioContext,
  definition: ContenderDefinition,
  { topology, retry, instances }: { readonly topology: Topology; readonly retry: RetryPolicy; readonly instances: number },
): Promise<Contender[]> {
  const built: Contender[] = [];
  for (let instance = 0; instance < instances; instance += 1) built.push(await context.pool.get(definition, topology, retry, instance));
  return built;
}

/** A copy of `items` in a uniformly random order (Fisher-Yates). */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const order = [...items];
  for (let last = order.length - 1; last > 0; last -= 1) {
    const pick = Math.floor(random() * (last + 1));
    [order[last], order[pick]] = [order[pick] as T, order[last] as T];
  }
  return order;
}

function medianPerKey(rounds: readonly SampleValues[]): SampleValues {
  const keys = new Set(rounds.flatMap((values) => Object.keys(values)));
  return Object.fromEntries([...keys].map((key) => [key, median(rounds.map((values) => values[key] ?? Number.NaN))]));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
