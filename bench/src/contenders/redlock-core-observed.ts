import diagnosticsChannel from 'node:diagnostics_channel';
import { DIAGNOSTICS_CHANNELS } from 'redlock-core';
import type { ContenderDefinition } from './contender.js';
import { redlockCore } from './redlock-core.js';

/** Does nothing: what a subscriber costs the core, without any work of its own. */
const ignore = (): void => undefined;
const TRACING_NAMES = [DIAGNOSTICS_CHANNELS.acquire, DIAGNOSTICS_CHANNELS.attempt, DIAGNOSTICS_CHANNELS.extend, DIAGNOSTICS_CHANNELS.release];
const CHANNEL_NAMES = [DIAGNOSTICS_CHANNELS.lockLost, DIAGNOSTICS_CHANNELS.nodeError];
const NO_OP_SUBSCRIBERS = { start: ignore, end: ignore, asyncStart: ignore, asyncEnd: ignore, error: ignore };

/**
 * Subscribers are process-wide, and the contenders take turns in one process: the no-op subscribers are
 * attached while this contender has an operation in flight, and detached one turn of the event loop after
 * its last one, so that `redlock-core` measured next runs without them. In a loop the next acquire starts
 * before that turn, so a sample runs subscribed throughout and pays for (un)subscribing only at its edges.
 */
let inFlight = 0;
let detach: NodeJS.Immediate | undefined;
let isAttached = false;

function attach(): void {
  inFlight += 1;
  if (detach !== undefined) {
    clearImmediate(detach);
    detach = undefined;
  }
  if (isAttached) return;
  isAttached = true;
  for (const name of TRACING_NAMES) diagnosticsChannel.tracingChannel(name).subscribe(NO_OP_SUBSCRIBERS);
  for (const name of CHANNEL_NAMES) diagnosticsChannel.subscribe(name, ignore);
}

function detachWhenIdle(): void {
  inFlight -= 1;
  if (inFlight > 0 || detach !== undefined) return;
  detach = setImmediate(() => {
    detach = undefined;
    if (inFlight > 0 || !isAttached) return;
    isAttached = false;
    for (const name of TRACING_NAMES) diagnosticsChannel.tracingChannel(name).unsubscribe(NO_OP_SUBSCRIBERS);
    for (const name of CHANNEL_NAMES) diagnosticsChannel.unsubscribe(name, ignore);
  });
}

/**
 * `redlock-core` as its contender sets it up, with a no-op subscriber on every diagnostics channel while
 * it runs: the difference to `redlock-core` is what observability costs when someone listens (every
 * context object built, every event published), against nothing without subscribers. Meant for S1
 * (`--scenarios=S1 --contenders=floor,redlock-core,redlock-core-observed`).
 */
export const redlockCoreObserved: ContenderDefinition = {
  name: 'redlock-core-observed',
  kind: 'ours',
  client: 'ioredis6',
  packageName: 'redlock-core (this repo), no-op diagnostics subscribers',
  async create(setup) {
    const plain = await redlockCore.create(setup);
    return {
      ...plain,
      async acquire(resource) {
        attach();
        let releaseLock: () => Promise<void>;
        try {
          releaseLock = await plain.acquire(resource);
        } catch (error) {
          detachWhenIdle();
          throw error;
        }
        return async () => {
          try {
            await releaseLock();
          } finally {
            detachWhenIdle();
          }
        };
      },
    };
  },
};
