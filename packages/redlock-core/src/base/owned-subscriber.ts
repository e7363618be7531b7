import type { Unsubscribe } from './adapter.js';
import { unrefTimer } from './clock.js';

/**
 * How long an adapter's own subscriber connection stays open with no subscription, in milliseconds: 60 s.
 * The core leaves each channel as its last waiter leaves; this keeps the connection through the gaps between
 * waits (a lock contended in bursts, jobs that start every minute), and closes it when locks stop being
 * contended. Closed after 5 s, every burst of contention opened it again on every node: a connection, its
 * handshake and its CPU at the busiest moment (bench/RESULTS.md, 2026-11-30).
 */
export const OWNED_SUBSCRIBER_IDLE_MS = 60_000;

/**
 * The name an adapter's own subscriber connection shows in `CLIENT LIST`: `redlock-subscriber`, after the
 * client's own name if it has one (see {@link subscriberConnectionNameOf}).
 */
export const SUBSCRIBER_CONNECTION_NAME = 'redlock-subscriber';

/**
 * The connection name for the subscriber of a client named `clientName`: `app:redlock-subscriber` for a
 * client named `app`, {@link SUBSCRIBER_CONNECTION_NAME} alone when `clientName` is not a non-empty string
 * (the client has no name).
 */
export function subscriberConnectionNameOf(clientName: unknown): string {
  return typeof clientName === 'string' && clientName !== '' ? `${clientName}:${SUBSCRIBER_CONNECTION_NAME}` : SUBSCRIBER_CONNECTION_NAME;
}

/**
 * One subscriber connection an adapter opened for an {@link OwnedSubscriber}, as it drives it. The
 * adapter implements it over its client (e.g. a `duplicate()` of the user's client) and keeps there what
 * is particular to that client: how it counts listeners per channel, how it waits to be connected.
 */
export interface OwnedSubscriberConnection {
  /**
   * Subscribes `onMessage` to `channel`, waiting for the connection if it is still connecting; resolves
   * once the node confirmed, with the function that removes this listener (and sends UNSUBSCRIBE after the
   * channel's last), or rejects with the error of the connection or of SUBSCRIBE. The same callback
   * subscribed twice is two listeners, each removed by its own unsubscribe.
   */
  subscribe(channel: string, onMessage: () => void): Promise<Unsubscribe>;
  /**
   * Whether the connection ended without the `onEnd` given to {@link OwnedSubscriberClient.open} being
   * called (yet); checked before each subscription, so that a new connection replaces it.
   */
  hasEnded(): boolean;
  /**
   * Closes the connection at once, rejecting whatever is pending on it (a SUBSCRIBE in flight, a wait for
   * it to connect) and stopping its reconnections. Not QUIT: it would wait for a node that may be down.
   * Never throws. Called once, including after the connection ended by itself.
   */
  close(): void;
}

/**
 * The user's client as an {@link OwnedSubscriber} uses it: what an adapter implements to get a subscriber
 * connection of its own that opens at the first subscription and closes when idle.
 */
export interface OwnedSubscriberClient {
  /**
   * Why the client can no longer carry subscriptions (it was closed, or gave up reconnecting), as the end
   * of the sentence `Cannot subscribe to release notifications: …`; `undefined` while it can.
   */
  endedReason(): string | undefined;
  /**
   * Opens a new subscriber connection to the client's node, with the client's options (address, TLS,
   * credentials, reconnection) and the name {@link subscriberConnectionNameOf} gives for the client's
   * name; it does not wait for the connection. Calls `onEnd` once the connection ends by itself (its
   * reconnection gave up), so that the next subscription opens a new one. Its errors are the adapter's to
   * silence: a failure shows as a rejected subscription.
   */
  open(onEnd: () => void): OwnedSubscriberConnection;
  /**
   * Calls `listener` when the client ends (closed, quit, destroyed, or gave up reconnecting); returns the
   * function that removes it.
   */
  onClientEnd(listener: () => void): () => void;
  /**
   * How long the connection stays open with no subscription, in milliseconds; `Infinity` (or more than a Node
   * timer can wait, about 24.8 days) keeps it until the client ends or the last lease closes.
   * @defaultValue {@link OWNED_SUBSCRIBER_IDLE_MS}
   */
  readonly idleMs?: number;
}

/**
 * One adapter's share of an {@link OwnedSubscriber} that every adapter over the same client uses (see
 * {@link OwnedSubscriber.of} and {@link OwnedSubscriber.lease}): its own subscriptions, which its
 * {@link close} ends.
 */
export interface OwnedSubscriberLease {
  /** {@link OwnedSubscriber.subscribe}, for this lease; rejects once it was closed. */
  subscribe(channel: string, onMessage: () => void): Promise<Unsubscribe>;
  /**
   * Ends this lease's subscriptions, and closes the connection at once when no other lease is open (a
   * SUBSCRIBE in flight then rejects). Final; safe to call more than once.
   */
  close(): void;
}

/** The longest delay a Node timer takes, in milliseconds: 2^31 − 1. */
const MAX_TIMER_MS = 2_147_483_647;

/** The subscriber of each client, shared by every adapter over it: see {@link OwnedSubscriber.of}. */
const SHARED = new WeakMap<object, OwnedSubscriber>();

/** One connection opened by an {@link OwnedSubscriber} and the subscriptions made on it; while open, it is the current one. */
interface Opened {
  readonly connection: OwnedSubscriberConnection;
  /** Subscriptions made and not yet ended, including those whose SUBSCRIBE is in flight. */
  subscriptionCount: number;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  isOpen: boolean;
  readonly removeClientEndListener: () => void;
}

/**
 * The subscriber connection an adapter opens for itself over the user's client, for the adapter's
 * `subscribe` (release notifications): one connection at a time, opened at the first subscription,
 * closed {@link OWNED_SUBSCRIBER_IDLE_MS} (or the client's `idleMs`) after its last subscription ended,
 * when the user's client ends, when it ends by itself, or by {@link OwnedSubscriber.close} (the adapter's
 * `close()`, which `redlock.close()` calls); opened again at the next subscription. Its idle timer never
 * keeps the process alive. The adapter supplies the client-specific part as an {@link OwnedSubscriberClient}.
 *
 * @example
 * ```ts
 * import { OwnedSubscriber, type OwnedSubscriberLease, type RedisAdapter, subscriberConnectionNameOf } from 'redlock-core';
 *
 * class MyAdapter implements RedisAdapter {
 *   readonly #owned: OwnedSubscriberLease;
 *   readonly subscribe: NonNullable<RedisAdapter['subscribe']>;
 *
 *   constructor(readonly client: MyClient) {
 *     // Every adapter over `client` (one per `Redlock`) shares one connection.
 *     this.#owned = OwnedSubscriber.of(client, () => ({
 *       endedReason: () => (client.isClosed ? 'the client was closed' : undefined),
 *       open: (onEnd) => {
 *         const subscriber = client.duplicate({ name: subscriberConnectionNameOf(client.name) });
 *         subscriber.on('error', () => undefined);
 *         subscriber.on('end', onEnd);
 *         return {
 *           subscribe: async (channel, onMessage) => {
 *             const listener = () => onMessage();
 *             await subscriber.subscribe(channel, listener);
 *             return () => subscriber.unsubscribe(channel, listener);
 *           },
 *           hasEnded: () => subscriber.isClosed,
 *           close: () => subscriber.destroy(),
 *         };
 *       },
 *       onClientEnd: (listener) => {
 *         client.on('end', listener);
 *         return () => client.off('end', listener);
 *       },
 *     })).lease();
 *     this.subscribe = (channel, onMessage) => this.#owned.subscribe(channel, onMessage);
 *   }
 *
 *   async close(): Promise<void> {
 *     this.#owned.close();
 *   }
 *   // evalsha, eval, trySet…
 * }
 * ```
 */
export class OwnedSubscriber {
  readonly #client: OwnedSubscriberClient;
  /** How long the connection stays open with no subscription: see {@link OwnedSubscriberClient.idleMs}. */
  readonly #idleMs: number;
  #current: Opened | undefined;
  /** How many leases are open (see {@link lease}). */
  #leaseCount = 0;

  /**
   * @param client - The user's client, as the adapter presents it; see {@link OwnedSubscriberClient}.
   * @throws `RangeError` if `client.idleMs` is given and is not a number of milliseconds from 0 up, or `Infinity`.
   */
  constructor(client: OwnedSubscriberClient) {
    const { idleMs } = client;
    if (idleMs !== undefined && (typeof idleMs !== 'number' || Number.isNaN(idleMs) || idleMs < 0)) {
      throw new RangeError(`Expected \`idleMs\` to be a number of milliseconds from 0 up, or Infinity, got ${String(idleMs)}`);
    }
    this.#client = client;
    // Longer than a Node timer can wait (about 24.8 days) is for ever: Node would fire such a timer at once.
    this.#idleMs = idleMs === undefined ? OWNED_SUBSCRIBER_IDLE_MS : idleMs > MAX_TIMER_MS ? Infinity : idleMs;
  }

  /**
   * The one subscriber of `key` (the user's client), made over `makeClient()` the first time: every
   * adapter over one client (one per `Redlock`, as many apps make) shares one connection and one `'end'`
   * listener on the client, each through a {@link lease} of its own.
   */
  static of(key: object, makeClient: () => OwnedSubscriberClient): OwnedSubscriber {
    const owned = SHARED.get(key) ?? new OwnedSubscriber(makeClient());
    SHARED.set(key, owned);
    return owned;
  }

  /** One adapter's share of this subscriber: see {@link OwnedSubscriberLease}. */
  lease(): OwnedSubscriberLease {
    this.#leaseCount += 1;
    const unsubscribes = new Set<Unsubscribe>();
    let isClosed = false;
    const closedError = (): Error => new Error('Cannot subscribe to release notifications: the adapter was closed');
    return {
      subscribe: async (channel, onMessage) => {
        if (isClosed) throw closedError();
        const unsubscribe = await this.subscribe(channel, onMessage);
        // Closed while SUBSCRIBE was in flight on a connection other leases keep open.
        if (isClosed) {
          await unsubscribe();
          throw closedError();
        }
        const tracked: Unsubscribe = () => {
          unsubscribes.delete(tracked);
          return unsubscribe();
        };
        unsubscribes.add(tracked);
        return tracked;
      },
      close: () => {
        if (isClosed) return;
        isClosed = true;
        this.#leaseCount -= 1;
        if (this.#leaseCount === 0) this.close();
        // Ended without waiting: a node that does not answer UNSUBSCRIBE must not hold the adapter's close.
        else for (const unsubscribe of [...unsubscribes]) void Promise.resolve(unsubscribe()).catch(() => undefined);
        unsubscribes.clear();
      },
    };
  }

  /**
   * Subscribes `onMessage` to `channel` on the subscriber connection, opening it if needed; resolves once
   * subscribed, with the function that ends the subscription, or rejects with the error of the connection
   * or SUBSCRIBE, or at once with an `Error` when the user's client has ended.
   */
  async subscribe(channel: string, onMessage: () => void): Promise<Unsubscribe> {
    const endedReason = this.#client.endedReason();
    if (endedReason !== undefined) throw new Error(`Cannot subscribe to release notifications: ${endedReason}`);
    if (this.#current?.connection.hasEnded() === true) this.#close(this.#current);
    const opened = this.#current ?? this.#open();
    opened.subscriptionCount += 1;
    clearTimeout(opened.idleTimer);
    opened.idleTimer = undefined;
    let unsubscribe: Unsubscribe;
    try {
      unsubscribe = await opened.connection.subscribe(channel, onMessage);
    } catch (error) {
      this.#release(opened);
      throw error;
    }
    let isSubscribed = true;
    return async () => {
      if (!isSubscribed) return;
      isSubscribed = false;
      // Counted as ended before UNSUBSCRIBE is answered: a node that does not answer must not keep the
      // connection open past its idle time.
      this.#release(opened);
      // A closed connection has no subscription left to end.
      if (opened.isOpen) await unsubscribe();
    };
  }

  /** Closes the subscriber connection now, if one is open; a later subscription opens a new one. */
  close(): void {
    if (this.#current !== undefined) this.#close(this.#current);
  }

  #open(): Opened {
    let opened: Opened | undefined;
    // If it ends by itself (its reconnection gave up), the next subscription opens a new one.
    const connection = this.#client.open(() => {
      if (opened !== undefined) this.#close(opened);
    });
    const removeClientEndListener = this.#client.onClientEnd(() => this.close());
    opened = { connection, subscriptionCount: 0, idleTimer: undefined, isOpen: true, removeClientEndListener };
    this.#current = opened;
    return opened;
  }

  #release(opened: Opened): void {
    opened.subscriptionCount -= 1;
    if (opened.subscriptionCount > 0 || !opened.isOpen || this.#idleMs === Infinity) return;
    opened.idleTimer = setTimeout(() => this.#close(opened), this.#idleMs);
    unrefTimer(opened.idleTimer);
  }

  #close(opened: Opened): void {
    if (!opened.isOpen) return;
    opened.isOpen = false;
    clearTimeout(opened.idleTimer);
    this.#current = undefined;
    opened.removeClientEndListener();
    opened.connection.close();
  }
}
