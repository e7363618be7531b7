/** Names resources in messages: `"orders:42"`, or `"a", "b"` for several, cut to keep messages short. */
export function describeResources(resources: readonly string[]): string {
  const shown = resources.slice(0, 3).map((resource) => JSON.stringify(resource.length > 60 ? `${resource.slice(0, 57)}...` : resource));
  return resources.length > 3 ? `${shown.join(', ')} and ${resources.length - 3} more` : shown.join(', ');
}
