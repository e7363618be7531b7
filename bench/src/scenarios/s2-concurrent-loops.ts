import { describeSampling, runInterleavedRounds } from '../interleaved-rounds.js';
import { sampleLoops } from './acquire-release-loops.js';
import { LOOP_METRICS } from './loop-metrics.js';
import type { Scenario } from '../scenario.js';

/** How many loops run at once in S2, each on its own resource. */
export const S2_LOOPS = 64;

/** S2: 64 concurrent acquire+release loops on distinct resources: throughput and CPU per operation. */
export const s2ConcurrentLoops: Scenario = {
  id: 'S2',
  title: `S2: ${S2_LOOPS} concurrent acquire+release loops on distinct resources`,
  async run(context) {
    const plan = context.plan.s2;
    const contenders = await runInterleavedRounds(
      context,
      { topology: 'near', retry: 'defaults', plan, label: 'S2' },
      ({ definition, contender, round, durationMs }) =>
        sampleLoops({
          contender,
          name: definition.name,
          resources: Array.from({ length: S2_LOOPS }, (_, loop) => `bench:s2:${definition.name}:${round}:${loop}`),
          durationMs,
          monitors: context.nodes.monitors,
          log: context.log,
        }),
    );
    return {
      id: 'S2',
      title: this.title,
      sampling: describeSampling(plan),
      metrics: Object.values(LOOP_METRICS),
      contenders,
    };
  },
};
