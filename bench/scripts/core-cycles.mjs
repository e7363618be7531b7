// One uncontended acquire+release over 5 in-memory nodes that answer at once, by mode: `core` (redlock-core),
// `semaphore` (a permit of a redlock-core semaphore of 3, each node giving the slot it is asked from),
// `lean` (the least a Redlock can do in-process: the core's token, the lean vote, nothing else),
// `redlock5` (node-redlock 5 over stand-in ioredis clients) and `compat` (this library's node-redlock 5 API over
// the same kind of stand-ins). Shared by core-loop.mjs and core-path.mjs.
// With `-turns` after the mode (`core-turns`), every node answers on a turn of the event loop of its own
// (`setImmediate`), as replies from sockets do: the vote is then decided before the last nodes answered, and
// what a library does with answers that come after its decision counts too (at once, every answer is in
// before the first is read). Each mode pays the same turns, so compare modes within one of the two kinds.
// With `-far` (`core-far`), node 0 answers 140 cycles later (S4's far node: 40 ms at S1's pace) and the
// others at once: what a library does for a node that answers long after its decision, with some 280 of its
// calls in flight, counts too.

/** A reply on a turn of its own, as a socket's. */
const onLaterTurn = (value) => new Promise((resolve) => setImmediate(resolve, value));

/** How many cycles later the far node of `-far` answers: 40 ms (S4's round trip) at {@link CYCLE_MS} per cycle. */
const FAR_CYCLES = 140;

/** The cycles begun so far, and the far node's replies not delivered yet, in the order they are due. */
let cycleCount = 0;
const farReplies = [];
let nextFarReply = 0;

/** A reply of the far node: delivered at the start of the cycle it is due (see {@link nextCycle}). */
const onFarTurn = (value) => new Promise((resolve) => farReplies.push({ due: cycleCount + FAR_CYCLES, resolve, value }));

/** Starts a cycle: delivers the far node's replies that are due. Every mode calls it, so each pays the same. */
function nextCycle() {
  cycleCount += 1;
  while (nextFarReply < farReplies.length && farReplies[nextFarReply].due <= cycleCount) {
    const { resolve, value } = farReplies[nextFarReply];
    farReplies[nextFarReply] = undefined;
    nextFarReply += 1;
    resolve(value);
  }
  if (nextFarReply > 1_000) {
    farReplies.splice(0, nextFarReply);
    nextFarReply = 0;
  }
}

/** How a node of a mode replies: at once, on a later turn (`-turns`), or, for node 0 of `-far`, 140 cycles later. */
function replyOf(kind, nodeIndex) {
  if (kind === 'turns') return onLaterTurn;
  if (kind === 'far' && nodeIndex === 0) return onFarTurn;
  return (value) => Promise.resolve(value);
}

/** The in-memory node of `core` and `lean`: it grants every lock and confirms every release, answering as `kind` says. */
const inMemoryNode = (kind) => (_, nodeIndex) => {
  const reply = replyOf(kind, nodeIndex);
  return { client: {}, evalsha: () => reply(1), eval: () => reply(1), trySet: () => reply('OK') };
};

/** The cycle of `mode`, ready to be called again and again. */
export async function cycleOf(modeName) {
  const kind = modeName.endsWith('-turns') ? 'turns' : modeName.endsWith('-far') ? 'far' : 'at once';
  const mode = kind === 'at once' ? modeName : modeName.slice(0, modeName.lastIndexOf('-'));
  const answersLater = kind !== 'at once';
  if (mode === 'lean') {
    // The core's own token source, so that the loops differ only in what the core does around it.
    const { createLockToken } = await import('../../packages/redlock-core/dist/base/token.js');
    const { leanQuorum } = await import('./lean-quorum.mjs');
    const nodes = Array.from({ length: 5 }, inMemoryNode(kind));
    // Answers on later turns take milliseconds under valgrind: a timeout that would not fire there.
    const timeoutMs = answersLater ? 5_000 : 50;
    return async () => {
      nextCycle();
      const token = createLockToken();
      const start = performance.now();
      const hasQuorum = await leanQuorum(nodes, (node) => node.trySet('lean', token, 10_000), (reply) => reply === 'OK', timeoutMs);
      if (!hasQuorum || 10_000 - (performance.now() - start) - 102 <= 0) throw new Error('no quorum');
      await leanQuorum(nodes, (node) => node.evalsha('sha1', ['lean'], [token]), () => true, timeoutMs);
    };
  }
  if (mode === 'redlock5') {
    // The established peer's own work per acquire+release, beside ours: its clients answer every script (at once, or on turns).
    const { default: NodeRedlock } = await import('redlock5');
    const inMemoryClient = (_, nodeIndex) => {
      const reply = replyOf(kind, nodeIndex);
      return { evalsha: (_sha, keyCount) => reply(keyCount), eval: (_source, keyCount) => reply(keyCount) };
    };
    const redlock = new NodeRedlock(Array.from({ length: 5 }, inMemoryClient));
    return async () => {
      nextCycle();
      const lock = await redlock.acquire(['redlock5'], 10_000);
      await lock.release();
    };
  }
  if (mode === 'compat') {
    // This library through its node-redlock 5 compatibility package, used as `redlock5` is, over stand-in
    // ioredis clients behind the package's own `IoredisAdapter`s: what the compat layer adds to `core`.
    const { default: CompatRedlock } = await import('redlock-node-redlock-compat');
    const inMemoryClient = (_, nodeIndex) => {
      const reply = replyOf(kind, nodeIndex);
      return {
        isCluster: false,
        status: 'ready',
        options: {},
        evalsha: () => reply(1),
        eval: () => reply(1),
        set: () => reply('OK'),
        on: () => undefined,
        off: () => undefined,
      };
    };
    const redlock = new CompatRedlock(Array.from({ length: 5 }, inMemoryClient));
    return async () => {
      nextCycle();
      const lock = await redlock.acquire(['compat'], 10_000);
      await lock.release();
    };
  }
  if (mode !== 'core' && mode !== 'semaphore') throw new Error(`Unknown mode ${modeName}: core, semaphore, lean, redlock5 or compat, each also with -turns or -far`);
  const { Redlock } = await import('redlock-core');
  const clock = pacedClock();
  if (mode === 'semaphore') {
    const { permitAcquireScript } = await import('../../packages/redlock-core/dist/scripts/permit-acquire.js');
    // The permit-acquire script admits from the slot it is asked from (its 6th argument), the others free.
    const permitNode = (_, nodeIndex) => {
      const reply = replyOf(kind, nodeIndex);
      const answer = (sha1, args) => {
        if (sha1 !== permitAcquireScript.sha1) return reply(1);
        const slot = Number(args[5]);
        return reply([1, 1, slot, ...[1, 2, 3].filter((other) => other !== slot)]);
      };
      return { client: {}, evalsha: (sha1, _keys, args) => answer(sha1, args), eval: () => reply(1), trySet: () => reply('OK') };
    };
    const semaphore = new Redlock(Array.from({ length: 5 }, permitNode), { clock: clock.clock }).semaphore('semaphore', { limit: 3 });
    return async () => {
      nextCycle();
      clock.advance();
      const permit = await semaphore.acquire(10_000);
      await permit.release();
    };
  }
  const redlock = new Redlock(Array.from({ length: 5 }, inMemoryNode(kind)), { clock: clock.clock });
  return async () => {
    nextCycle();
    clock.advance();
    const lock = await redlock.acquire('core', 10_000);
    await lock.release();
  };
}

/**
 * The clock of `core`: the system's, except that its monotonic time moves on by {@link CYCLE_MS} per cycle
 * rather than with the wall. The core does some work only every so often (a node's round trip is taken
 * once per 4 ms of call starts, not at every answer): on the real clock, how often that work ran followed how
 * fast the loop ran, so a count under valgrind (some 50 times slower, slower still beside other work)
 * moved by thousands of instructions between runs of one build. Each reading still calls
 * `performance.now()`, so it costs what the system clock's does. client-loop.mjs paces the core's clock on
 * real nodes too.
 */
export function pacedClock() {
  // Read once, as the core's system clock reads it (packages/redlock-core/src/base/clock.ts).
  const monotonic = globalThis.performance;
  let now = 0;
  return {
    advance() {
      now += CYCLE_MS;
    },
    clock: {
      now: () => monotonic.now() * 0 + now,
      wallNow: () => Date.now(),
      // Node's timers, for what arming and clearing them costs, but never due while the count runs: on
      // the real clock a node's timeout could fire under valgrind's slowness, which a real cycle never sees.
      setTimeout: (callback, ms) => setTimeout(callback, ms * TIMER_STRETCH),
      clearTimeout: (handle) => clearTimeout(handle),
    },
  };
}

/** How much longer than asked the timers of `core`'s clock take: see `pacedClock`. */
const TIMER_STRETCH = 1_000;

/** The time one cycle takes on the clock of `core`: S1's pace on real nodes here (some 3,500 cycles a second). */
const CYCLE_MS = 0.285;
