import type { Redis } from 'ioredis';

/** The turn in which each socket was last written to: its next write in the same turn is held. */
const turnOf = new WeakMap<object, number>();
/** The current turn of the event loop, counted by {@link endTurn}. */
let turn = 0;
/** Whether {@link endTurn} is due at the end of this turn. */
let isTurnEnding = false;
/** The sockets held in the current turn, sent together by {@link endTurn}. */
let heldThisTurn: Redis['stream'][] = [];

/**
 * From the second write `client` makes to its socket in the current turn of the event loop, holds its
 * writes until the turn ends (`process.nextTick`), then sends them in one system call; the first goes out at
 * once. What `redlock-ioredis-adapter` does at its defaults (its `coalesceWrites`, not exported), written
 * again here so that the floor does the same, and only that, with no adapter in between. A socket already
 * held (`writableCorked`) is left as it is: whoever holds it sends these writes too.
 */
export function holdWritesUntilTurnEnds(client: Redis): void {
  const { stream } = client;
  if (stream === undefined || stream.writableCorked > 0) return;
  if (turnOf.get(stream) !== turn) {
    if (!isTurnEnding) {
      isTurnEnding = true;
      process.nextTick(endTurn);
    }
    turnOf.set(stream, turn);
    return;
  }
  stream.cork();
  heldThisTurn.push(stream);
}

function endTurn(): void {
  // A new turn first: a socket written to while these are sent belongs to it.
  turn += 1;
  isTurnEnding = false;
  const held = heldThisTurn;
  heldThisTurn = [];
  for (const stream of held) stream.uncork();
}
