// What `redlock.close()` does on the nodes, once: let the work that can still remove keys finish, then close the adapters.
import { CLOSE_TIMEOUT_MS } from '../base/lifecycle.js';
import { emitErrorWarning } from '../base/warnings.js';
import { NodeError } from '../base/redlock-error.js';
import type { LabelWatches } from './label-watches.js';
import type { NodeSet } from './node-state.js';
import type { ReleaseNotifications } from './release-notifications.js';

/**
 * Ends `set`'s lifecycle (every waiting call rejects), stops the release notifications and the label
 * watches, waits up to `CLOSE_TIMEOUT_MS` for the releases and cleanups in flight, then calls the optional
 * `close()` of each distinct adapter, in parallel, each bounded by `CLOSE_TIMEOUT_MS` too. Never rejects: a failure or a
 * timeout is emitted as a process warning (a {@link NodeError} naming the node), since the `Redlock` is
 * gone and shutdown code should not need a `try`.
 */
export async function closeNodes(set: NodeSet, notifications: ReleaseNotifications | undefined, labels: LabelWatches): Promise<void> {
  const { lifecycle, nodes, options } = set;
  lifecycle.begin();
  if (notifications !== undefined) lifecycle.track(notifications.close());
  lifecycle.track(labels.close());
  // A release or cleanup in flight to a node whose latest call timed out is not waited for: it is
  // unlikely to be answered within the bound, and the command already sent still runs if the node answers.
  await lifecycle.settle(CLOSE_TIMEOUT_MS, (nodeIndex) => nodes[nodeIndex]?.breaker.isUp !== false);
  const adapters = nodes.map((node) => node.adapter);
  const { clock } = options;
  const closes = adapters.map(async (adapter, nodeIndex) => {
    if (adapters.indexOf(adapter) !== nodeIndex || typeof adapter.close !== 'function') return;
    let timer: unknown;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = clock.setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS)));
    try {
      const closing = Promise.resolve().then(() => (adapter.close as () => Promise<void>).call(adapter));
      // A close that fails after the timeout has been reported as a timeout already.
      closing.catch(() => undefined);
      if ((await Promise.race([closing, timedOut])) === 'timeout') {
        emitErrorWarning(
          new NodeError(`Node ${nodeIndex}'s adapter did not close within ${CLOSE_TIMEOUT_MS} ms`, { nodeIndex, isTimeout: true, cause: undefined }),
        );
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      emitErrorWarning(new NodeError(`Node ${nodeIndex}'s adapter failed to close: ${message}`, { nodeIndex, isTimeout: false, cause: error }));
    } finally {
      clock.clearTimeout(timer);
    }
  });
  await Promise.all(closes);
}
