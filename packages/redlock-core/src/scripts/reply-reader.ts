// How a node call reads its node's reply: the types shared by the scripts' readers (below the node calls)
// and the fan-out that uses them (nodes/fan-out.ts), so that neither imports the other's layer upward.
import type { RedisAdapter } from '../base/adapter.js';

/** A node call whose timeout can start again, once its node answered `NOSCRIPT` (so it is alive), for the EVAL that follows. */
export interface RenewableCall { renewTimeout(nodeIndex: number): void }

/**
 * How the calls of one fan-out send their command and read its reply, made once for all of them: the call
 * reads what the adapter's promise settled with from its own handlers on it, so reading a reply costs no
 * promise of its own. Each call hands itself, to renew its timeout after `NOSCRIPT`.
 */
export interface ReplyReader<S extends string> {
  /** Sends the command to `adapter`; resolves or rejects with the reply, unread. */
  send(adapter: RedisAdapter): PromiseLike<unknown>;
  /** Reads a reply: the status, or a promise of it when reading takes another command. May throw. */
  read(reply: unknown, adapter: RedisAdapter, call: RenewableCall, nodeIndex: number): S | Promise<S>;
  /** Reads a rejection: a status (or a promise of one) when it recovers, else it throws. */
  recover(error: unknown, adapter: RedisAdapter, call: RenewableCall, nodeIndex: number): S | Promise<S>;
}
