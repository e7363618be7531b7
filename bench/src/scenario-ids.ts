/** The scenarios, in the order they run: a name both the contenders (which run in some) and the scenarios use. */
export const SCENARIO_IDS = ['S1', 'S2', 'S3-defaults', 'S3-tuned', 'S4', 'S5', 'S6-T1', 'S6-T2', 'S6-T3', 'S6-T4'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];
