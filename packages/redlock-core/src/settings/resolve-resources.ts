// The resources of one call, checked, and the keys they make.
import { FENCE_KEY_SUFFIX } from '../scripts/fence.js';
import { formatValue } from './value-checks.js';

/**
 * Validates the resources of one call and makes their keys. A key that would end with
 * {@link FENCE_KEY_SUFFIX} is refused: it lies in the namespace of fencing counters, where a fenced
 * acquisition of another resource would overwrite it.
 */
export function resolveResources(resources: unknown, keyPrefix: string): { readonly resources: readonly string[]; readonly keys: readonly string[] } {
  // The usual call locks one resource, given as a string: no copy, and nothing to compare it with.
  if (typeof resources === 'string') {
    checkResource(resources);
    const key = keyPrefix + resources;
    checkKey(key, resources);
    return { resources: [resources], keys: [key] };
  }
  if (!Array.isArray(resources)) throw new TypeError(`Expected \`resources\` to be a string or an array of strings, got ${formatValue(resources)}`);
  const list: unknown[] = [...resources];
  if (list.length === 0) throw new RangeError('Expected `resources` to name at least one resource, got an empty array');
  const seen = new Set<string>();
  for (const resource of list) {
    checkResource(resource);
    if (seen.has(resource)) throw new RangeError(`Expected resources to be distinct, got ${formatValue(resource)} twice`);
    seen.add(resource);
  }
  const names = list as string[];
  // A loop, not `map()`: once V8 optimizes this function, its inlined `map()` makes holey arrays, and every
  // optimized function downstream that had only seen packed keys is compiled again (some ten of them, at once).
  const keys: string[] = [];
  for (const resource of names) {
    const key = keyPrefix + resource;
    checkKey(key, resource);
    keys.push(key);
  }
  return { resources: names, keys };
}

function checkResource(resource: unknown): asserts resource is string {
  if (typeof resource !== 'string') {
    throw new TypeError(`Expected every resource to be a string, got ${formatValue(resource)}`);
  }
  if (resource === '') throw new RangeError('Expected every resource to be a non-empty string, got `""`');
  // A lone surrogate has no UTF-8 encoding: clients send U+FFFD instead, so distinct names would share a key.
  if (!resource.isWellFormed()) {
    throw new RangeError(`Expected every resource to be well-formed Unicode, got ${formatValue(resource)} with a lone surrogate`);
  }
}

function checkKey(key: string, resource: string): void {
  if (!key.endsWith(FENCE_KEY_SUFFIX)) return;
  // The key is shown only when the prefix made it end so: it may be long, and formatValue cuts the end.
  const madeKey = resource.endsWith(FENCE_KEY_SUFFIX) ? '' : ` (key ${formatValue(key)})`;
  throw new RangeError(
    `Expected every resource to make a key that does not end with "${FENCE_KEY_SUFFIX}", which is reserved for fencing counters, got ${formatValue(resource)}${madeKey}`,
  );
}
