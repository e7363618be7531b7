import { GCProfiler } from 'node:v8';

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

/**
 * Runs `work` and returns what it resolved with and the bytes it allocated: the heap's growth over it plus
 * what every GC during it freed (`v8.GCProfiler`), so that a GC in the middle does not hide what was
 * allocated before it. Collect garbage first (see {@link heapUsedAfterGc}), so that no GC during `work`
 * frees what was allocated before.
 */
export async function allocatedDuring<T>(work: () => Promise<T>): Promise<{ readonly value: T; readonly bytes: number }> {
  const profiler = new GCProfiler();
  profiler.start();
  const heapStart = process.memoryUsage().heapUsed;
  const value = await work();
  const heapEnd = process.memoryUsage().heapUsed;
  const { statistics } = profiler.stop();
  const freed = statistics.reduce((sum, gc) => sum + gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize, 0);
  return { value, bytes: heapEnd - heapStart + freed };
}
