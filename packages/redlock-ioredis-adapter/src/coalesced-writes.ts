import type { IoredisClient } from './ioredis-client.js';

/** The part of a Node socket (`net.Socket`, `tls.TLSSocket`) that holds writes back: see {@link CoalescedWrites}. */
interface CorkableStream {
  /** How many `cork()` calls are waiting for their `uncork()`; 0 while writes go out at once. */
  readonly writableCorked: number;
  cork(): void;
  uncork(): void;
}

/**
 * Holds back what one adapter's client writes to its socket from its second command in a burst until the
 * turn of the event loop is done with its callbacks, promise continuations included, then sends the held
 * commands in one system call. ioredis writes every command at once; a lock's calls come in bursts (every
 * lock that proceeds on the same reply sends its next command to every node in the same turn), so under
 * load one write carries the commands of many locks, which saves CPU on both sides of the wire. node-redis
 * does the same by itself.
 *
 * A burst is what the client is sent before the promise continuations queued so far have run: the first
 * command of a burst goes out at once, as ioredis sends it, and costs one field update and, once per burst
 * for every adapter, one promise continuation that ends the burst. A lone lock sends one command per node
 * per turn, so it is never held and never pays for holding (a buffered write, and a `process.nextTick` to
 * send it, which alone costs more than the rest). The second command of a burst corks the socket until
 * `process.nextTick`, which runs once every continuation of the turn has: whatever else the turn sends on
 * that socket joins the same write. A held command waits until the code running now returns (microseconds,
 * unless that code goes on with long synchronous work, which would hold up the handling of its reply just
 * as long; the core gives calls a fresh timeout after such a stall). Nothing is held for a `Cluster` (its
 * commands go to several connections), for a `Redis` without a socket yet (it queues commands until it
 * connects), or when the socket is already held by someone else (their `uncork()` sends ours too).
 */
export class CoalescedWrites {
  readonly #client: IoredisClient;
  /** The socket seen last, as `client.stream` gave it (a reconnection brings a new one). */
  #stream: unknown;
  /** Whether {@link #stream} can be held: looked at once per socket. */
  #isCorkable = false;
  /** The burst in which the socket was last sent a command: its next command in the same burst is held. */
  #burst = -1;

  constructor(client: IoredisClient) {
    this.#client = client;
  }

  /** Call before each command sent on the client: see {@link CoalescedWrites}. */
  hold(): void {
    const { stream } = this.#client;
    if (stream !== this.#stream) {
      this.#stream = stream;
      this.#isCorkable = isCorkable(stream);
      this.#burst = -1;
    }
    if (!this.#isCorkable) return;
    const socket = stream as CorkableStream;
    if (socket.writableCorked > 0) return;
    if (this.#burst !== burst) {
      this.#burst = burst;
      if (!isBurstEnding) {
        isBurstEnding = true;
        // A continuation, not `process.nextTick`: it costs a lone lock's every turn a fraction as much.
        void RESOLVED.then(endBurst);
      }
      return;
    }
    socket.cork();
    heldThisTurn.push(socket);
    if (!isTurnEnding) {
      isTurnEnding = true;
      process.nextTick(endTurn);
    }
  }
}

/** The current burst of commands, counted by {@link endBurst}. */
let burst = 0;
/** Whether {@link endBurst} is queued. */
let isBurstEnding = false;
const RESOLVED = Promise.resolve();

/** Ends the burst: the next command of each socket goes out at once again, unless the socket is held. */
function endBurst(): void {
  burst += 1;
  isBurstEnding = false;
}

/** Whether {@link endTurn} is due at the end of this turn. */
let isTurnEnding = false;
/** The sockets held in the current turn, released together by {@link endTurn}. */
let heldThisTurn: CorkableStream[] = [];

/** Sends what every socket held in the turn that ended. */
function endTurn(): void {
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
