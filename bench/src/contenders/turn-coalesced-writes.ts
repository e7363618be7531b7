import type { Redis } from 'ioredis';

/** The sockets held in the current turn of the event loop, sent together by {@link sendHeldWrites}. */
let heldThisTurn: Redis['stream'][] = [];

/**
 * Holds what `client` writes to its socket until the current turn of the event loop ends (`process.nextTick`),
 * then sends it in one system call: what `redlock-ioredis-adapter` does at its defaults (its `coalesceWrites`,
 * not exported), written again here so that the floor does the same, and only that, with no adapter in between.
 * A socket already held (`writableCorked`) is left as it is: whoever holds it sends these writes too.
 */
export function holdWritesUntilTurnEnds(client: Redis): void {
  const { stream } = client;
  if (stream === undefined || stream.writableCorked > 0) return;
  stream.cork();
  if (heldThisTurn.push(stream) === 1) process.nextTick(sendHeldWrites);
}

function sendHeldWrites(): void {
  // A fresh list first: a socket held while these are sent belongs to the next turn.
  const held = heldThisTurn;
  heldThisTurn = [];
  for (const stream of held) stream.uncork();
}
