// Shows a read-write lock: four readers, each with its own Redlock as separate processes would have, keep
// reading a catalog together, while a writer rebuilds it twice, alone; a waiting writer stops new readers,
// so a stream of readers cannot starve it.
// Run: `pnpm --filter redlock-examples run read-write-lock` (REDIS_URLS=... to use your own nodes).
import { setTimeout as delay } from 'node:timers/promises';
import { openExampleNodes } from './redis-nodes.js';

const READERS = 4;
const REBUILDS = 2;

const nodes = await openExampleNodes();
try {
  let reading = 0;
  let mostReadingAtOnce = 0;
  let isWriting = false;
  let version = 1;
  const reads = Array<number>(READERS).fill(0);

  const reader = async (id: number): Promise<void> => {
    const catalog = nodes.newRedlock().readWriteLock('catalog');
    while (version <= REBUILDS) {
      // Readers share the lock; each waits while the writer holds it or waits for it.
      await catalog.usingRead(10_000, async () => {
        if (isWriting) throw new Error(`reader ${id} came in while the writer held the catalog`);
        reading += 1;
        mostReadingAtOnce = Math.max(mostReadingAtOnce, reading);
        await delay(30 + Math.random() * 30); // reading the catalog
        reading -= 1;
        reads[id - 1] = (reads[id - 1] ?? 0) + 1;
      });
    }
  };

  const writer = async (): Promise<void> => {
    const catalog = nodes.newRedlock().readWriteLock('catalog');
    while (version <= REBUILDS) {
      await delay(200); // the readers read meanwhile
      // A single try gives up at once, and leaves nothing that makes readers wait.
      const tried = await catalog.tryAcquireWrite(10_000);
      if (tried !== undefined) await tried.release();
      console.log(`writer: a single try ${tried === undefined ? 'found readers' : 'found the catalog free'}`);
      // A waiting writer leaves its intent on the nodes: new readers queue behind it, those reading finish.
      const askedAt = performance.now();
      const writing = catalog.usingWrite(10_000, async () => {
        if (reading > 0) throw new Error(`the writer came in while ${reading} readers held the catalog`);
        isWriting = true;
        console.log(`writer: in after ${Math.round(performance.now() - askedAt)} ms, rebuilding version ${version + 1}`);
        await delay(100); // rebuilding the catalog
        version += 1;
        isWriting = false;
      });
      const { readers, isWriterWaiting } = await catalog.inspect();
      console.log(`inspect() while the writer asks: ${readers} readers, a writer waiting: ${isWriterWaiting}`);
      await writing;
    }
  };

  await Promise.all([writer(), ...Array.from({ length: READERS }, (_, index) => reader(index + 1))]);
  console.log(`catalog at version ${version}; reads per reader: ${reads.join(', ')}; at most ${mostReadingAtOnce} readers at once, never beside the writer`);
} finally {
  await nodes.close();
}
