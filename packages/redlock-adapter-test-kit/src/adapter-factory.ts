import type { RedisAdapter } from 'redlock-core';

/** An adapter under test and how to let go of what it wraps. */
export interface AdapterHandle {
  /** The adapter, over a client connected to the node (or cluster) it was made for. */
  readonly adapter: RedisAdapter;
  /**
   * Closes the clients made for this adapter (its client, and a subscriber if any). The kit calls it once,
   * after the test, even when the node is paused or down, and waits at most 2 s for it.
   */
  close(): Promise<void>;
}

/**
 * Makes an adapter for the node at `url` (`redis://127.0.0.1:PORT`), over a client of its own, and resolves
 * once that client is connected. For a cluster suite, `url` is one master's: connect a cluster client
 * that discovers the others. The kit calls it many times, for clients that contend with each other.
 *
 * @example
 * ```ts
 * const connect: AdapterFactory = async (url) => {
 *   const client = await createClient({ url }).connect();
 *   return { adapter: new NodeRedisAdapter(client), close: () => client.close() };
 * };
 * ```
 */
export type AdapterFactory = (url: string) => Promise<AdapterHandle>;
