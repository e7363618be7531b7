import type { IoredisClient } from './ioredis-client.js';

/** The part of a Node socket (`net.Socket`, `tls.TLSSocket`) that holds writes back: see {@link holdWritesUntilTickEnd}. */
interface CorkableStream {
  /** How many `cork()` calls are waiting for their `uncork()`; 0 while writes go out at once. */
  readonly writableCorked: number;
  cork(): void;
  uncork(): void;
}

/**
 * Holds back what `client` writes to its socket from its second command in the current turn of the event
 * loop until the turn is done with its callbacks, promise continuations included, then sends the held
 * commands in one system call. ioredis writes every command at once; a lock's calls come in bursts (every
 * lock that proceeds on the same reply sends its next command to every node in the same turn), so under
 * load one write carries the commands of many locks, which saves CPU on both sides of the wire. node-redis
 * does the same by itself. The first command of a turn goes out at once, as ioredis sends it: a lone lock
 * sends one command per node per turn, and holding that one back would only add the cost of holding it
 * (a buffered write, a callback to release it). A held command waits until the code running now returns:
 * microseconds, unless that code goes on with long synchronous work, which would hold up the handling of
 * its reply just as long (the core gives calls a fresh timeout after such a stall). Nothing is held for a
 * `Cluster` (its commands go to several connections), for a `Redis` without a socket yet (it queues
 * commands until it connects), or when the socket is already held by someone else (their `uncork()` sends
 * ours too).
 */
export function holdWritesUntilTickEnd(client: IoredisClient): void {
  const { stream } = client;
  if (stream === undefined) return;
  const seen = turnOf.get(stream as CorkableStream);
  // Whether it can be corked is looked at once per socket: most sockets are seen many times.
  if (seen === undefined && !isCorkable(stream)) return;
  const socket = stream as CorkableStream;
  if (socket.writableCorked > 0) return;
  if (seen !== turn) {
    // One callback for the turn, however many sockets it sees.
    if (!isTurnEnding) {
      isTurnEnding = true;
      process.nextTick(endTurn);
    }
    turnOf.set(socket, turn);
    return;
  }
  socket.cork();
  heldThisTurn.push(socket);
}

/** The turn in which each socket was last sent a command: its next command in the same turn is held. */
const turnOf = new WeakMap<CorkableStream, number>();
/** The current turn of the event loop, as far as the sockets' commands are concerned: counted by {@link endTurn}. */
let turn = 0;
/** Whether {@link endTurn} is due at the end of this turn. */
let isTurnEnding = false;

/** The sockets held in the current turn, released together by {@link endTurn}. */
let heldThisTurn: CorkableStream[] = [];

/** Sends what every socket held in the turn that ended, and starts the next turn with no socket seen. */
function endTurn(): void {
  // A new turn first: a socket written to while these are sent belongs to it.
  turn += 1;
  isTurnEnding = false;
  const held = heldThisTurn;
  heldThisTurn = [];
  for (const stream of held) stream.uncork();
}

function isCorkable(stream: unknown): stream is CorkableStream {
  if (typeof stream !== 'object' || stream === null) return false;
  const candidate = stream as Partial<Record<keyof CorkableStream, unknown>>;
  return typeof candidate.cork === 'function' && typeof candidate.uncork === 'function' && typeof candidate.writableCorked === 'number';
}
