import type { Redis } from 'ioredis';

/** The burst in which each socket was last written to: its next write in the same burst is held. */
const burstOf = new WeakMap<object, number>();
/** The current burst of writes, counted by {@link endBurst}. */
let burst = 0;
/** Whether {@link endBurst} is queued. */
let isBurstEnding = false;
const RESOLVED = Promise.resolve();
/** Whether {@link endTurn} is due at the end of this turn. */
let isTurnEnding = false;
/** The sockets held in the current turn, sent together by {@link endTurn}. */
let heldThisTurn: Redis['stream'][] = [];

/**
 * From the second write `client` makes to its socket in a burst (before the promise continuations queued
 * so far have run), holds its writes until the turn of the event loop ends (`process.nextTick`), then sends
 * them in one system call; the first goes out at once, and a burst costs one continuation, not a tick. What
 * `redlock-ioredis-adapter` does at its defaults (its `coalesceWrites`, not exported), written again here so
 * that the floor does the same, and only that, with no adapter in between. A socket already held
 * (`writableCorked`) is left as it is: whoever holds it sends these writes too.
 */
export function holdWritesUntilTurnEnds(client: Redis): void {
  const { stream } = client;
  if (stream === undefined || stream.writableCorked > 0) return;
  if (burstOf.get(stream) !== burst) {
    burstOf.set(stream, burst);
    if (!isBurstEnding) {
      isBurstEnding = true;
      void RESOLVED.then(endBurst);
    }
    return;
  }
  stream.cork();
  heldThisTurn.push(stream);
  if (!isTurnEnding) {
    isTurnEnding = true;
    process.nextTick(endTurn);
  }
}

function endBurst(): void {
  burst += 1;
  isBurstEnding = false;
}

function endTurn(): void {
  isTurnEnding = false;
  const held = heldThisTurn;
  heldThisTurn = [];
  for (const stream of held) stream.uncork();
}
