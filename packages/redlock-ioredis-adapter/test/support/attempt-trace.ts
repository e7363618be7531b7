import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type AttemptTraceContext, DIAGNOSTICS_CHANNELS } from 'redlock-core';

/** The end of each attempt, as `node:diagnostics_channel` names the `asyncEnd` event of the core's attempt trace. */
const ATTEMPT_END_CHANNEL = `tracing:${DIAGNOSTICS_CHANNELS.attempt}:asyncEnd`;

/** The attempts on one resource that ended while recording, in the order they ended. */
export interface AttemptRecording {
  /** Each ended attempt's trace context, its `result` set. */
  readonly attempts: readonly AttemptTraceContext[];
  /** Stops recording; call it in `finally`. */
  stop(): void;
}

/**
 * Records the attempts of every Redlock in this process whose resources include `resource`, from the
 * core's `redlock-core.attempt` trace: what started an attempt shows there (an attempt a node's wake
 * started, and the look a waiter takes once it listens, ask one node alone first, `isWoken`: the
 * waking node, the node subscribed first; a timed retry and a turn in the process's own queue ask every
 * node), as does each node's part in it, where a timing bound could only guess.
 */
export function recordAttempts(resource: string): AttemptRecording {
  const attempts: AttemptTraceContext[] = [];
  const onAttemptEnd = (message: unknown): void => {
    const context = message as AttemptTraceContext;
    if (context.resources.includes(resource) && context.result !== undefined) attempts.push(context);
  };
  subscribe(ATTEMPT_END_CHANNEL, onAttemptEnd);
  return { attempts, stop: () => unsubscribe(ATTEMPT_END_CHANNEL, onAttemptEnd) };
}
