import { describeSampling, runInterleavedRounds } from '../interleaved-rounds.js';
import { sampleLoops } from './acquire-release-loops.js';
import { LOOP_METRICS } from './loop-metrics.js';
import type { Scenario } from '../scenario.js';

/** S1: one loop of acquire+release on one resource: latency and throughput of a lone client. */
export const s1SingleLoop: Scenario = {
  id: 'S1',
  title: 'S1: one acquire+release loop on one resource',
  async run(context) {
    const plan = context.plan.s1;
    const contenders = await runInterleavedRounds(
      context,
      { topology: 'near', retry: 'defaults', plan, label: 'S1' },
      ({ definition, contender, round, durationMs }) =>
        sampleLoops({
          contender,
          name: definition.name,
          resources: [`bench:s1:${definition.name}:${round}`],
          durationMs,
          monitors: context.nodes.monitors,
          log: context.log,
        }),
    );
    return {
      id: 'S1',
      title: this.title,
      sampling: describeSampling(plan),
      metrics: Object.values(LOOP_METRICS),
      contenders,
    };
  },
};
