import { type ContenderDefinition, MATRIX_SCENARIOS } from './contender.js';

/**
 * `definition` with ioredis's own batching turned on (`enableAutoPipelining: true` on its clients), named
 * `<name>+autopipeline`: what any ioredis user of that library gets from one option, beside its defaults.
 */
export function withAutoPipelining(definition: ContenderDefinition): ContenderDefinition {
  return {
    ...definition,
    name: `${definition.name}+autopipeline`,
    packageName: `${definition.packageName}, enableAutoPipelining`,
    clientOptions: { ...definition.clientOptions, enableAutoPipelining: true },
    scenarios: MATRIX_SCENARIOS,
  };
}

/** `definition` over ioredis 5.11 clients instead of 6, named `<name>@io5`. */
export function onIoredis5(definition: ContenderDefinition): ContenderDefinition {
  return {
    ...definition,
    name: `${definition.name}@io5`,
    packageName: `${definition.packageName}, on ioredis 5.11`,
    client: 'ioredis5',
    scenarios: MATRIX_SCENARIOS,
  };
}
