// The core's own work per acquire+release, without Redis: N serial cycles over 5 in-memory nodes that answer
// at once. Run by core-instructions.sh under valgrind, which counts the instructions; also a lean reference
// loop with the same token and quorum logic, the least a Redlock can do in-process, and node-redlock 5.
// Usage: node bench/scripts/core-loop.mjs <core|lean|redlock5> <cycles>
const [mode, cycles] = [process.argv[2] ?? 'core', Number(process.argv[3] ?? 1000)];
process.removeAllListeners('warning');
process.on('warning', () => undefined);
const inMemoryNode = () => ({ client: {}, evalsha: () => Promise.resolve(1), eval: () => Promise.resolve(1), trySet: () => Promise.resolve('OK') });
let cycle;
if (mode === 'lean') {
  // The core's own token source, so that the two loops differ only in what the core does around it.
  const { createLockToken } = await import('../../packages/redlock-core/dist/base/token.js');
  const { leanQuorum } = await import('./lean-quorum.mjs');
  const nodes = Array.from({ length: 5 }, inMemoryNode);
  cycle = async () => {
    const token = createLockToken();
    const start = performance.now();
    const hasQuorum = await leanQuorum(nodes, (node) => node.trySet('lean', token, 10_000), (reply) => reply === 'OK', 50);
    if (!hasQuorum || 10_000 - (performance.now() - start) - 102 <= 0) throw new Error('no quorum');
    await leanQuorum(nodes, (node) => node.evalsha('sha1', ['lean'], [token]), () => true, 50);
  };
} else if (mode === 'redlock5') {
  // node-redlock 5 over the same in-memory nodes, as ioredis clients that answer every script at once:
  // the established peer's own work per acquire+release, beside ours.
  const { default: NodeRedlock } = await import('redlock5');
  const inMemoryClient = () => ({ evalsha: (_sha, keyCount) => Promise.resolve(keyCount), eval: (_source, keyCount) => Promise.resolve(keyCount) });
  const redlock = new NodeRedlock(Array.from({ length: 5 }, inMemoryClient));
  cycle = async () => {
    const lock = await redlock.acquire(['redlock5'], 10_000);
    await lock.release();
  };
} else {
  const { Redlock } = await import('redlock-core');
  const redlock = new Redlock(Array.from({ length: 5 }, inMemoryNode));
  cycle = async () => {
    const lock = await redlock.acquire('core', 10_000);
    await lock.release();
  };
}
for (let index = 0; index < cycles; index += 1) await cycle();
