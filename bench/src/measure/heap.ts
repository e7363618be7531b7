/** Whether `global.gc` is there, i.e. node runs with `--expose-gc`; heap figures need it. */
export function canCollectGarbage(): boolean {
  return typeof globalThis.gc === 'function';
}

/** Collects garbage (twice, so objects freed by finalizers go too) and returns the heap in use, in bytes. */
export function heapUsedAfterGc(): number {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('Heap figures need node --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
