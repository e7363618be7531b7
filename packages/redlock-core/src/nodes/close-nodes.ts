// What `redlock.close()` does on the nodes, once: let the work that can still remove keys finish, then close the adapters.
import { CLOSE_TIMEOUT_MS, closeAdapters } from '../base/lifecycle.js';
import type { NodeSet } from './node-state.js';
import type { ReleaseNotifications } from './release-notifications.js';

/**
 * Ends `set`'s lifecycle (every waiting call rejects), stops the release notifications, waits up to
 * `CLOSE_TIMEOUT_MS` for the releases and cleanups in flight, then closes each adapter that has a `close()`.
 */
export async function closeNodes(set: NodeSet, notifications: ReleaseNotifications | undefined): Promise<void> {
  const { lifecycle, nodes, options } = set;
  lifecycle.begin();
  if (notifications !== undefined) lifecycle.track(notifications.close());
  // A release or cleanup in flight to a node whose latest call timed out is not waited for: it is
  // unlikely to be answered within the bound, and the command already sent still runs if the node answers.
  await lifecycle.settle(CLOSE_TIMEOUT_MS, (nodeIndex) => nodes[nodeIndex]?.isTimingOut !== true);
  await closeAdapters(
    nodes.map((node) => node.adapter),
    options.clock,
    CLOSE_TIMEOUT_MS,
  );
}
