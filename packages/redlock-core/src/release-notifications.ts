import type { RedisAdapter, Unsubscribe } from './adapter.js';
import type { Clock } from './clock.js';
import { releaseChannelOf } from './scripts/release.js';

/** A waiter's subscription to the release notifications of its keys. */
export interface KeyWatch {
  /** Settles once the subscription is active on at least one node, or failed or timed out on all; never rejects. */
  readonly ready: Promise<void>;
  /**
   * Calls `callback` once, at the next release notification of any watched key on any node, or at once
   * if one arrived since the last callback. Returns a function that cancels the call.
   */
  onNextRelease(callback: () => void): () => void;
  /** Ends the watch; the node subscriptions end when no watch needs them. */
  close(): void;
}

/**
 * The release notification subscriptions of one `Redlock`, shared by all its waiters: one subscription per
 * node and channel, however many waiters watch it, ended when the last one leaves.
 */
export class ReleaseNotifications {
  readonly #clock: Clock;
  readonly #adapters: readonly RedisAdapter[];
  readonly #channels = new Map<string, ChannelSubscription>();

  /** @param adapters - The nodes that can subscribe (those with `subscribe`). */
  private constructor(adapters: readonly RedisAdapter[], clock: Clock) {
    this.#adapters = adapters;
    this.#clock = clock;
  }

  /** Release notifications over the nodes whose adapters can subscribe, or `undefined` if none can. */
  static over(adapters: readonly RedisAdapter[], clock: Clock): ReleaseNotifications | undefined {
    const capable = adapters.filter((adapter) => typeof adapter.subscribe === 'function');
    return capable.length === 0 ? undefined : new ReleaseNotifications(capable, clock);
  }

  /**
   * Watches the release channels of `keys` on every capable node. `ready` waits at most `timeoutMs`, so a
   * hung node cannot stall the waiter; it then relies on its timer.
   */
  watch(keys: readonly string[], timeoutMs: number): KeyWatch {
    let hasPending = false;
    let waiting: (() => void) | undefined;
    const listener = (): void => {
      const callback = waiting;
      waiting = undefined;
      if (callback) callback();
      else hasPending = true;
    };
    const subscriptions = this.#adapters.flatMap((adapter, adapterIndex) =>
      keys.map((key) => this.#channel(adapter, adapterIndex, releaseChannelOf(key))),
    );
    const readies = subscriptions.map((subscription) => subscription.add(listener));
    const clock = this.#clock;
    const ready = new Promise<void>((resolve) => {
      const timer = clock.setTimeout(resolve, timeoutMs);
      const settle = (): void => {
        clock.clearTimeout(timer);
        resolve();
      };
      Promise.any(readies).then(settle, settle);
    });
    return {
      ready,
      onNextRelease(callback) {
        if (hasPending) {
          hasPending = false;
          queueMicrotask(callback);
          return () => undefined;
        }
        waiting = callback;
        return () => {
          if (waiting === callback) waiting = undefined;
        };
      },
      close() {
        waiting = undefined;
        for (const subscription of subscriptions) subscription.remove(listener);
      },
    };
  }

  #channel(adapter: RedisAdapter, adapterIndex: number, channel: string): ChannelSubscription {
    const id = `${adapterIndex} ${channel}`;
    let subscription = this.#channels.get(id);
    if (subscription === undefined) {
      subscription = new ChannelSubscription(adapter, channel, () => this.#channels.delete(id));
      this.#channels.set(id, subscription);
    }
    return subscription;
  }
}

/**
 * One channel on one node: subscribed while any listener needs it. Subscribing and unsubscribing run one
 * after the other, each bringing the node in line with the listeners at that moment, so a waiter that
 * arrives while the last one leaves is never left unsubscribed.
 */
class ChannelSubscription {
  readonly #listeners = new Set<() => void>();
  #unsubscribe: Unsubscribe | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly adapter: RedisAdapter,
    private readonly channel: string,
    private readonly onIdle: () => void,
  ) {}

  /** Adds a listener; resolves once the node is subscribed, rejects if subscribing failed. */
  add(listener: () => void): Promise<void> {
    this.#listeners.add(listener);
    return this.#sync();
  }

  remove(listener: () => void): void {
    this.#listeners.delete(listener);
    void this.#sync().catch(() => undefined);
  }

  #sync(): Promise<void> {
    const step = this.#queue.then(async () => {
      if (this.#listeners.size > 0 && this.#unsubscribe === undefined) {
        this.#unsubscribe = await (this.adapter.subscribe as NonNullable<RedisAdapter['subscribe']>)(this.channel, () => {
          for (const listener of [...this.#listeners]) listener();
        });
      } else if (this.#listeners.size === 0 && this.#unsubscribe !== undefined) {
        const unsubscribe = this.#unsubscribe;
        this.#unsubscribe = undefined;
        await unsubscribe();
      }
      if (this.#listeners.size === 0 && this.#unsubscribe === undefined) this.onIdle();
    });
    // A failed step must not block the next one; its own caller sees the failure.
    this.#queue = step.catch(() => undefined);
    return step;
  }
}

/**
 * Waits until `delayMs` passed (`'timer'`) or a watched key was released (`'release'`), whichever comes
 * first; rejects with `signal.reason` if `signal` aborts first.
 */
export function waitForRetry(
  clock: Clock,
  delayMs: number,
  watch: KeyWatch | undefined,
  signal: AbortSignal | undefined,
): Promise<'timer' | 'release'> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const finish = (how: 'timer' | 'release'): void => {
      clock.clearTimeout(timer);
      cancelWatch?.();
      signal?.removeEventListener('abort', onAbort);
      resolve(how);
    };
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      cancelWatch?.();
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => finish('timer'), delayMs);
    const cancelWatch = watch?.onNextRelease(() => finish('release'));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
