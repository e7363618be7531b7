// The base of every error the library rejects with on purpose, and the error of one node: below the
// outcomes (which hold node errors) and the other errors (which hold outcomes).
import { INSPECT_CUSTOM, inspectErrorSummary } from './error-summary.js';

/**
 * Base class of every error this library rejects with on purpose; `instanceof RedlockError` catches them all.
 *
 * `util.inspect` (so `console.log`, Node's report of an uncaught error, and loggers' text output) prints
 * one in a screen: the message and stack, then each field, with the bulky ones (`attempts`, `nodes`,
 * `nodeErrors`, `cause`) summarized: how many, each node's answer in the last attempt, each node's latest
 * error. The fields themselves, and `JSON.stringify()` or a structured logger's view of them, are unchanged.
 */
export class RedlockError extends Error {
  override name = 'RedlockError';

  static {
    // A prototype method added here, not declared: it is no part of the typed API, and it is not
    // enumerable, so JSON and structured loggers (which serialize own enumerable fields) never see it.
    Object.defineProperty(this.prototype, INSPECT_CUSTOM, {
      value(this: RedlockError, depth: number, options: object, inspect: (value: unknown, options?: object) => string): string {
        return inspectErrorSummary(this, depth, options, inspect);
      },
      writable: true,
      configurable: true,
    });
  }
}

/**
 * One node failed to answer: it timed out, the connection failed, or Redis replied with an error.
 * The algorithm tolerates a minority of these; they are kept in `nodeErrors`, never swallowed.
 *
 * `cause` is the client's error, with one change: a client that attaches the failed command's arguments
 * to its error (ioredis: `error.command.args`) would hand out the lock's token with them, so `cause` is
 * then a copy without `command.args` (same class, message, stack and other fields; `command.name` stays).
 * The client's own error object is left unchanged.
 */
export class NodeError extends RedlockError {
  override name = 'NodeError';

  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly nodeIndex: number;
  /**
   * Whether the node did not answer within its per-node timeout. There is no `cause` then, unless the
   * client had no connection to the node: `cause` is then the connection's error.
   */
  readonly isTimeout: boolean;
  /**
   * Whether the node was not called at all because it counts as down: a call timed out with no answer from
   * the node since it was sent, and it is left alone, but for one probe at a time, until it answers again
   * (see `redlock.nodeHealth()`).
   */
  readonly isDown: boolean;

  constructor(message: string, options: { nodeIndex: number; isTimeout: boolean; cause: unknown; isDown?: boolean }) {
    super(message, { cause: causeWithoutArguments(options.cause) });
    this.nodeIndex = options.nodeIndex;
    this.isTimeout = options.isTimeout;
    this.isDown = options.isDown ?? false;
  }
}

/**
 * `cause` without the arguments of the command it failed (see {@link NodeError}): a copy when it has
 * `command.args`, else `cause` itself. A copy, not a change to the client's error, which the client may
 * also have handed to your own code (its promise, an `'error'` listener).
 */
function causeWithoutArguments(cause: unknown): unknown {
  if (typeof cause !== 'object' || cause === null) return cause;
  const command: unknown = (cause as { readonly command?: unknown }).command;
  if (typeof command !== 'object' || command === null || !('args' in command)) return cause;
  const { args: _args, ...commandWithoutArgs } = command as Record<string, unknown>;
  const copy = Object.create(Object.getPrototypeOf(cause) as object | null) as object;
  Object.defineProperties(copy, { ...Object.getOwnPropertyDescriptors(cause), command: { value: commandWithoutArgs, writable: true, enumerable: true, configurable: true } });
  return copy;
}
