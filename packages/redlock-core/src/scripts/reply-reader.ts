// How a node call reads its node's reply: the types shared by the scripts' readers (below the node calls)
// and the fan-out that uses them (nodes/fan-out.ts), so that neither imports the other's layer upward.
import type { RedisAdapter } from '../base/adapter.js';

/**
 * A node call whose timeout can start again: told when its node answered `NOSCRIPT` (so it is alive),
 * before the EVAL that follows. A method of the call rather than a closure made for every call.
 */
export interface RenewableCall {
  renewTimeout(nodeIndex: number): void;
}

/**
 * How to read the replies of the calls of one fan-out, made once for all of them: each call hands it its
 * own adapter and itself, to renew its timeout after `NOSCRIPT` (see `onNoScriptOf` in lua-script.ts).
 */
export interface ReplyReader<S extends string> {
  /** Reads a reply: the status, or a promise of it when reading takes another command. May throw. */
  read(reply: unknown, adapter: RedisAdapter, call: RenewableCall, nodeIndex: number): S | Promise<S>;
  /** Reads a rejection: a status (or a promise of one) when it recovers, else it throws. */
  recover(error: unknown, adapter: RedisAdapter, call: RenewableCall, nodeIndex: number): S | Promise<S>;
}

/**
 * A node's reply still to be read, which a node call's run (`NodeCallRun`, nodes/node-call.ts) returns instead of a promise of the status
 * when it can: the adapter's own promise, and how to read what it resolves or rejects with. The call
 * attaches its one pair of handlers to the adapter's promise, so reading the reply costs no promise and no
 * turn of the microtask queue of its own (see `ScriptReader`).
 */
export interface NodeReply<S extends string> {
  /** The adapter's promise. */
  readonly reply: PromiseLike<unknown>;
  readonly reader: ReplyReader<S>;
}
