import type { Redis } from 'ioredis';

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
 * From the second write its client makes to its socket in a burst (before the promise continuations queued
 * so far have run), holds the client's writes until the turn of the event loop ends (`process.nextTick`),
 * then sends them in one system call; the first goes out at once, and a burst costs one continuation, not a
 * tick. What `redlock-ioredis-adapter` does at its defaults (its `coalesceWrites`, not exported), with the
 * same state per client, written again here so that the floor does the same, and only that, with no
 * adapter in between. A socket already held (`writableCorked`) is left as it is: whoever holds it sends
 * these writes too.
 */
export class TurnCoalescedWrites {
  readonly #client: Redis;
  /** The socket seen last (a reconnection brings a new one). */
  #stream: Redis['stream'] | undefined;
  /** The burst in which the socket was last written to: its next write in the same burst is held. */
  #burst = -1;

  constructor(client: Redis) {
    this.#client = client;
  }

  /** Call before each command sent on the client. */
  hold(): void {
    const { stream } = this.#client;
    if (stream === undefined) return;
    if (stream !== this.#stream) {
      this.#stream = stream;
      this.#burst = -1;
    }
    if (stream.writableCorked > 0) return;
    if (this.#burst !== burst) {
      this.#burst = burst;
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
