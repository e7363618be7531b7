import { canCollectGarbage, heapUsedAfterGc } from '../measure/heap.js';
import { runAcquireReleaseLoops } from './acquire-release-loops.js';
import type { ContenderResult, MetricSpec, Scenario } from '../scenario.js';

/** How many loops S5 runs at once (on distinct resources, as in S2), so 100k cycles take under a minute. */
export const S5_LOOPS = 64;
/** How many times S5 measures the heap along the way, after the warm-up. */
const S5_SEGMENTS = 10;

const S5_METRICS: readonly MetricSpec[] = [
  { key: 'heapGrowthKb', label: 'heap growth KB', digits: 0 },
  { key: 'slopeBytesPerCycle', label: 'trend B/cycle', digits: 2 },
  { key: 'heapRangeKb', label: 'max − min KB', digits: 0 },
  { key: 'cycles', label: 'cycles', digits: 0 },
  { key: 'errors', label: 'errors', digits: 0 },
];

/**
 * S5: the heap after a forced GC, measured 11 times over many acquire/release cycles (after a warm-up of
 * a tenth as many, which fills one-time caches and JIT feedback). A leak grows the heap in proportion to
 * the cycles, so the least-squares trend in bytes per cycle is the figure to watch; single heap readings
 * move by ±100 KB on their own. One pass per contender; needs node --expose-gc.
 */
export const s5Memory: Scenario = {
  id: 'S5',
  title: `S5: heap over acquire/release cycles (${S5_LOOPS} loops)`,
  async run(context) {
    const cycles = context.plan.s5Cycles;
    const contenders: ContenderResult[] = [];
    for (const definition of context.contenders) {
      const row = { name: definition.name, kind: definition.kind, client: definition.client, packageName: definition.packageName };
      if (!canCollectGarbage()) {
        contenders.push({ ...row, na: 'needs node --expose-gc' });
        continue;
      }
      context.log(`S5: ${definition.name}`);
      try {
        const contender = await context.pool.get(definition, 'near', 'defaults');
        const resources = Array.from({ length: S5_LOOPS }, (_, loop) => `bench:s5:${definition.name}:${loop}`);
        let errors = 0;
        const run = async (count: number): Promise<number> => {
          const outcome = await runAcquireReleaseLoops({ contender, resources, end: { cycles: count }, recordLatency: false });
          if (outcome.errors > 0) context.log(`  ${definition.name}: ${outcome.errors} cycles failed, first: ${outcome.firstError}`);
          errors += outcome.errors;
          return outcome.cycles;
        };
        await run(Math.ceil(cycles / 10));
        errors = 0;
        const points = [{ cycles: 0, heapBytes: heapUsedAfterGc() }];
        for (let segment = 0; segment < S5_SEGMENTS; segment += 1) {
          const done = await run(cycles / S5_SEGMENTS);
          points.push({ cycles: (points.at(-1)?.cycles ?? 0) + done, heapBytes: heapUsedAfterGc() });
        }
        const heaps = points.map((point) => point.heapBytes);
        const values = {
          heapGrowthKb: ((heaps.at(-1) ?? 0) - (heaps[0] ?? 0)) / 1024,
          slopeBytesPerCycle: slopeOf(points.map((point) => [point.cycles, point.heapBytes])),
          heapRangeKb: (Math.max(...heaps) - Math.min(...heaps)) / 1024,
          cycles: points.at(-1)?.cycles ?? 0,
          errors,
        };
        contenders.push({ ...row, values, rounds: [values] });
      } catch (error) {
        contenders.push({ ...row, na: `failed: ${error instanceof Error ? error.message : String(error)}` });
      }
    }
    return { id: 'S5', title: this.title, sampling: `1 pass of ${cycles.toLocaleString('en-US')} cycles per contender, heap read 11 times`, metrics: S5_METRICS, contenders };
  },
};

/** The least-squares slope of `y` over `x`. */
function slopeOf(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const covariance = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0);
  const variance = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  return covariance / variance;
}
