// What one node call is: how it sends its script and reads the reply, and what kind of call it is (see fan-out.ts).
import type { RedisAdapter } from '../base/adapter.js';
import type { RenewableCall, ReplyReader } from '../scripts/reply-reader.js';

/**
 * What a node call does: a {@link ReplyReader}, which sends one command and reads its reply (the calls of
 * the usual lock), or a function that sends its script on `adapter` (of node `nodeIndex`) and resolves
 * with the status. `call` goes to `onNoScriptOf(call, nodeIndex)` for `runScript`: after `NOSCRIPT` the
 * node answered, so its call gets a fresh timeout for the EVAL.
 */
export type NodeCallRun<S extends string> = ReplyReader<S> | ((adapter: RedisAdapter, call: RenewableCall, nodeIndex: number) => Promise<S>);

/**
 * What a node call is, for what it skips: a `'cleanup'` (releasing what an earlier call may have written)
 * is always sent, since it follows that call on the same connection, and skips the first-contact check and
 * the round-trip measure (the call it follows measured the same connection).
 */
export type NodeCallKind = 'call' | 'cleanup';
