// What the calls still waiting for a far node keep alive, per cycle (S4's cost beyond S1): serial
// acquire+release cycles over 5 in-memory nodes, node 0 answering 40 ms late, for 1.5 s; then the heap that
// is freed once those late answers have come, divided by the cycles that were waiting for them. Compared
// with a lean loop of the same shape (the floor's logic). Run after `pnpm run build`:
// node --expose-gc bench/scripts/far-node-retention.mjs [core|lean]
const mode = process.argv[2] ?? 'core';
const FAR_MS = 40;
const RUN_MS = 1_500;
process.removeAllListeners('warning');
process.on('warning', () => undefined);
/** The far node's replies not given yet: two per cycle still waiting (its acquisition and its release). */
let lateReplies = 0;
const late = (reply) =>
  new Promise((resolve) => {
    lateReplies += 1;
    setTimeout(() => {
      lateReplies -= 1;
      resolve(reply);
    }, FAR_MS);
  });
const inMemoryNode = (index) => ({
  client: {},
  evalsha: () => (index === 0 ? late(1) : Promise.resolve(1)),
  eval: () => Promise.resolve(1),
  // SET NX PX, as the ioredis and node-redis adapters send it.
  trySet: () => (index === 0 ? late('OK') : Promise.resolve('OK')),
});
const nodes = Array.from({ length: 5 }, (_, index) => inMemoryNode(index));
let cycle;
if (mode === 'lean') {
  const quorumOf = (replies) =>
    new Promise((resolve) => {
      let answered = 0;
      for (const reply of replies) void reply.then(() => ++answered === 3 && resolve());
    });
  cycle = async () => {
    const token = `token-${Math.random()}`;
    await quorumOf(nodes.map((node) => node.trySet('lean', token, 10_000)));
    await quorumOf(nodes.map((node) => node.evalsha('sha1', ['lean'], [token])));
  };
} else {
  const { Redlock } = await import('redlock-core');
  const redlock = new Redlock(nodes);
  cycle = async () => {
    const lock = await redlock.acquire('core', 10_000);
    await lock.release();
  };
}
const endAt = performance.now() + RUN_MS;
let cycles = 0;
while (performance.now() < endAt) {
  await cycle();
  cycles += 1;
  // Let the far node's timers run now and then, as a real event loop would.
  if (cycles % 200 === 0) await new Promise((resolve) => setImmediate(resolve));
}
const waiting = lateReplies / 2;
globalThis.gc();
const whileWaiting = process.memoryUsage().heapUsed;
await new Promise((resolve) => setTimeout(resolve, FAR_MS * 3));
globalThis.gc();
const afterwards = process.memoryUsage().heapUsed;
console.log(`${mode}: ${Math.round(cycles / (RUN_MS / 1000))} cycles/s, about ${Math.round(waiting)} waiting for the far node, ${Math.round((whileWaiting - afterwards) / waiting)} bytes kept alive per waiting cycle`);
