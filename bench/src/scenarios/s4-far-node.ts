import { FAR_NODE_DELAY_MS } from '../bench-nodes.js';
import { describeSampling, runInterleavedRounds } from '../interleaved-rounds.js';
import { sampleLoops } from './acquire-release-loops.js';
import { LOOP_METRICS } from './loop-metrics.js';
import type { ContenderResult, MetricSpec, Scenario } from '../scenario.js';

const VS_S1: MetricSpec = { key: 'p50VsS1', label: 'p50 ÷ own S1 p50', better: 'lower', digits: 2 };
const ACQUIRE_VS_S1: MetricSpec = { key: 'acquireP50VsS1', label: 'acquire p50 ÷ own S1', better: 'lower', digits: 2 };

/**
 * S4: S1 with one of the 5 nodes behind a loopback proxy adding 20 ms each way, as in a deployment across
 * datacenters: a library that decides at quorum barely notices; one that waits for every node pays 40 ms.
 * The proxy runs in this process, so client CPU here includes it; it is not reported.
 */
export const s4FarNode: Scenario = {
  id: 'S4',
  title: `S4: S1 with node 0 behind a proxy adding ${FAR_NODE_DELAY_MS} ms each way`,
  async run(context) {
    const plan = context.plan.s4;
    const contenders = await runInterleavedRounds(
      context,
      { topology: 'far', retry: 'defaults', plan, label: 'S4' },
      async ({ definition, contender, round, durationMs }) => {
        const { opsPerSec, p50Ms, p99Ms, acquireP50Ms, errors } = await sampleLoops({
          contender,
          name: definition.name,
          resources: [`bench:s4:${definition.name}:${round}`],
          durationMs,
          log: context.log,
        });
        return { opsPerSec, p50Ms, p99Ms, acquireP50Ms, errors } as Record<string, number>;
      },
    );
    const s1 = context.earlier.get('S1');
    return {
      id: 'S4',
      title: this.title,
      sampling: describeSampling(plan),
      metrics: [LOOP_METRICS.opsPerSec, LOOP_METRICS.p50Ms, LOOP_METRICS.p99Ms, VS_S1, LOOP_METRICS.acquireP50Ms, ACQUIRE_VS_S1, LOOP_METRICS.errors],
      contenders: contenders.map((result) => withRatioToS1(result, s1?.contenders.find((row) => row.name === result.name))),
    };
  },
};

/**
 * Adds `p50VsS1` and `acquireP50VsS1`: this contender's S4 p50s over its own S1 p50s (NaN when S1 did not
 * run), so each library is compared with itself on near nodes.
 */
function withRatioToS1(result: ContenderResult, s1: ContenderResult | undefined): ContenderResult {
  if (result.values === undefined) return result;
  const ratio = (key: string): number => (result.values?.[key] ?? Number.NaN) / (s1?.values?.[key] ?? Number.NaN);
  return { ...result, values: { ...result.values, p50VsS1: ratio('p50Ms'), acquireP50VsS1: ratio('acquireP50Ms') } };
}
