/**
 * How long {@link quitClient} waits for QUIT's reply by default, in milliseconds: 1 s.
 */
export const QUIT_TIMEOUT_MS = 1_000;

/**
 * Closes an ioredis or iovalkey `Redis` or `Cluster` of yours within `timeoutMs`: QUIT first, so that
 * commands already sent (say a release still in flight on a slow node) reach the node before the
 * connection closes; then, if its reply has not come within `timeoutMs` (a paused or unreachable node sends
 * none, and with the offline queue on, QUIT waits behind the commands queued for a node that is down),
 * `disconnect()`, so that no socket or reconnection timer keeps the process alive. A client with no connection
 * to its node (`reconnecting` after a failed attempt, or `wait`) is disconnected at once. Never rejects. The
 * adapter never closes your client: call this after `redlock.close()`.
 *
 * A client that was reconnecting (its node is down) keeps the process alive for its `disconnectTimeout`
 * (ioredis' default: 2 s) after this: ioredis arms that timer to destroy a socket that has already closed,
 * and nothing clears it. Give your clients a shorter `disconnectTimeout` if a prompt exit matters.
 *
 * @param client - The client to close; one that already ended is left as it is.
 * @param timeoutMs - How long to wait for QUIT's reply, in milliseconds.
 *   Default: {@link QUIT_TIMEOUT_MS} (1 s).
 *
 * @example
 * ```ts
 * await redlock.close();
 * await Promise.all(clients.map((client) => quitClient(client)));
 * ```
 */
export async function quitClient(
  client: { readonly status: string; quit(): Promise<unknown>; disconnect(): void },
  timeoutMs: number = QUIT_TIMEOUT_MS,
): Promise<void> {
  // Without a connection since its latest attempt failed (`reconnecting`), or never connected (`wait`), it
  // has nowhere to send QUIT: it would wait in the offline queue for the whole timeout (1 s per node down
  // at every shutdown). Its queued commands go nowhere either: a release's keys expire after their TTL.
  if (client.status === 'reconnecting' || client.status === 'wait') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.quit().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  // disconnect() on a client that already ended would start a reconnection timer that nothing clears.
  if (client.status !== 'end') client.disconnect();
}
