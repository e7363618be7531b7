/** Names resources in messages: `"orders:42"`, or `"a", "b"` for several, cut to keep messages short. */
export function describeResources(resources: readonly string[]): string {
  const shown = resources.slice(0, 3).map((resource) => JSON.stringify(resource.length > 60 ? `${resource.slice(0, 57)}...` : resource));
  return resources.length > 3 ? `${shown.join(', ')} and ${resources.length - 3} more` : shown.join(', ');
}

/**
 * How many attempts a call that gave up made, for its error's message: `after 1 attempt`, `after 3
 * attempts`, or, when the error kept only `keptCount` of them, `after 40 attempts (the error keeps the
 * first and the latest 10)`.
 */
export function describeAttemptCount(count: number, keptCount: number): string {
  const tries = count === 1 ? '1 attempt' : `${count} attempts`;
  return count > keptCount ? `after ${tries} (the error keeps the first and the latest ${keptCount - 1})` : `after ${tries}`;
}
