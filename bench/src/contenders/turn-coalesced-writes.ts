import type { Redis } from 'ioredis';

/** The sockets written to in the current turn of the event loop: their next write in it is held. */
const writtenThisTurn = new Set<Redis['stream']>();
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
  if (!writtenThisTurn.has(stream)) {
    if (writtenThisTurn.size === 0) process.nextTick(endTurn);
    writtenThisTurn.add(stream);
    return;
  }
  stream.cork();
  heldThisTurn.push(stream);
}

function endTurn(): void {
  // Fresh lists first: a socket written to while these are sent belongs to the next turn.
  const held = heldThisTurn;
  heldThisTurn = [];
  writtenThisTurn.clear();
  for (const stream of held) stream.uncork();
}
