// One uncontended acquire+release over 5 in-memory nodes that answer at once, by mode: `core` (redlock-core),
// `lean` (the least a Redlock can do in-process: the core's token, the lean vote, nothing else) and
// `redlock5` (node-redlock 5 over stand-in ioredis clients). Shared by core-loop.mjs and core-path.mjs.

const inMemoryNode = () => ({ client: {}, evalsha: () => Promise.resolve(1), eval: () => Promise.resolve(1), trySet: () => Promise.resolve('OK') });

/** The cycle of `mode`, ready to be called again and again. */
export async function cycleOf(mode) {
  if (mode === 'lean') {
    // The core's own token source, so that the loops differ only in what the core does around it.
    const { createLockToken } = await import('../../packages/redlock-core/dist/base/token.js');
    const { leanQuorum } = await import('./lean-quorum.mjs');
    const nodes = Array.from({ length: 5 }, inMemoryNode);
    return async () => {
      const token = createLockToken();
      const start = performance.now();
      const hasQuorum = await leanQuorum(nodes, (node) => node.trySet('lean', token, 10_000), (reply) => reply === 'OK', 50);
      if (!hasQuorum || 10_000 - (performance.now() - start) - 102 <= 0) throw new Error('no quorum');
      await leanQuorum(nodes, (node) => node.evalsha('sha1', ['lean'], [token]), () => true, 50);
    };
  }
  if (mode === 'redlock5') {
    // The established peer's own work per acquire+release, beside ours: its clients answer every script at once.
    const { default: NodeRedlock } = await import('redlock5');
    const inMemoryClient = () => ({ evalsha: (_sha, keyCount) => Promise.resolve(keyCount), eval: (_source, keyCount) => Promise.resolve(keyCount) });
    const redlock = new NodeRedlock(Array.from({ length: 5 }, inMemoryClient));
    return async () => {
      const lock = await redlock.acquire(['redlock5'], 10_000);
      await lock.release();
    };
  }
  if (mode !== 'core') throw new Error(`Unknown mode ${mode}: core, lean or redlock5`);
  const { Redlock } = await import('redlock-core');
  const redlock = new Redlock(Array.from({ length: 5 }, inMemoryNode));
  return async () => {
    const lock = await redlock.acquire('core', 10_000);
    await lock.release();
  };
}
