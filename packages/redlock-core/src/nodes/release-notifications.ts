// The wakes of one `Redlock`'s waiters: each of its wait queues has a member in the nodes' wait queues, and a
// channel a release on a node publishes to when that member is next (scripts/wake-queue.ts).
import type { RedisAdapter, Unsubscribe } from '../base/adapter.js';
import { type Clock, unrefTimer } from '../base/clock.js';
import { createLockToken } from '../base/token.js';
import { warnOnce } from '../base/warnings.js';
import { runScript } from '../scripts/lua-script.js';
import { passWakeScript, WAKE_CHANNEL_PREFIX, wakeMemberOf, wakeTicketOf } from '../scripts/wake-queue.js';

/**
 * How long a member's subscriptions outlive its last waiter, in milliseconds: a resource contended once is
 * usually contended again soon, and then costs no SUBSCRIBE, UNSUBSCRIBE or look on any node.
 */
export const SUBSCRIPTION_LINGER_MS = 1_000;

/** The wake subscriptions of one `Redlock`, shared by all its waiters. */
export class ReleaseNotifications {
  /** The first part of every queue member of this `Redlock` (see `wakeMemberOf`). */
  readonly wakeId = createLockToken().slice(0, 12);
  /** By wait queue id. */
  readonly #members = new Map<string, MemberWakes>();
  #isClosed = false;

  private constructor(
    /** By node index; `undefined` for a node whose adapter cannot subscribe. */
    private readonly adapters: readonly (RedisAdapter | undefined)[],
    private readonly clock: Clock,
  ) {}

  /** Release notifications over the nodes whose adapters can subscribe, or `undefined` if none can. */
  static over(adapters: readonly RedisAdapter[], clock: Clock): ReleaseNotifications | undefined {
    const capable = adapters.map((adapter) => (typeof adapter.subscribe === 'function' ? adapter : undefined));
    return capable.every((adapter) => adapter === undefined) ? undefined : new ReleaseNotifications(capable, clock);
  }

  /**
   * The ticket of wait queue `queueId`'s member, waiting since `sinceMs` by the wall clock; with `reserveMs`,
   * that of a waiter close to giving up (see `wakeTicketOf`).
   */
  ticketOf(queueId: string, sinceMs: number, reserveMs = 0): string {
    return wakeTicketOf(this.#members.get(queueId)?.member ?? wakeMemberOf(this.wakeId, queueId), sinceMs, reserveMs);
  }

  /**
   * Whether the queue's member's channel is subscribed on every node that can subscribe (lingering): a watch
   * made now misses no wake, so the wait loop makes it before an attempt (an uncontended process has none).
   */
  isListening(queueId: string): boolean {
    return this.#members.get(queueId)?.isListening === true;
  }

  /**
   * Listens on every node that can subscribe for the wakes of queue `queueId`'s member (the waiters of `keys`,
   * whom a refusing node queued): calls `onWake` with the node at each wake. Unless {@link isListening}
   * already, it calls `onWake` once more when the first subscription is in place, with its node (a look asks
   * it alone, which queues the waiter there), or with `undefined` if every one failed or none was within
   * `timeoutMs`: a wake before then went unheard. Returns what ends the watch; subscriptions linger.
   */
  watch(keys: readonly string[], queueId: string, timeoutMs: number, onWake: (nodeIndex: number | undefined) => void): () => void {
    let isClosed = false;
    const listener = (nodeIndex: number | undefined): void => {
      if (!isClosed) onWake(nodeIndex);
    };
    const wakes = this.#members.get(queueId) ?? this.#memberOf(keys, queueId);
    const subscribed = wakes.add(listener);
    if (subscribed !== undefined) {
      // A node slow to subscribe holds up no waiter: the others' wakes cover for it meanwhile.
      let isReady = false;
      const ready = (nodeIndex?: number): void => {
        if (isReady) return;
        isReady = true;
        this.clock.clearTimeout(readyTimer);
        listener(nodeIndex);
      };
      const readyTimer = this.clock.setTimeout(() => ready(), timeoutMs);
      Promise.any(subscribed).then(ready, () => ready());
    }
    return () => {
      isClosed = true;
      wakes.remove(listener);
    };
  }

  /** A new member for queue `queueId`, which it leaves once idle; once closed, one that never subscribes. */
  #memberOf(keys: readonly string[], queueId: string): MemberWakes {
    const wakes: MemberWakes = new MemberWakes(this.adapters, keys, wakeMemberOf(this.wakeId, queueId), this.clock, () => {
      if (this.#members.get(queueId) === wakes) this.#members.delete(queueId);
    });
    if (this.#isClosed) void wakes.close();
    else this.#members.set(queueId, wakes);
    return wakes;
  }

  /** Ends every subscription now, and subscribes no more (`redlock.close()`); resolves once each UNSUBSCRIBE settled. */
  close(): Promise<void> {
    this.#isClosed = true;
    return Promise.all([...this.#members.values()].map((wakes) => wakes.close())).then(() => undefined);
  }
}

/**
 * The wakes of one member: its listeners, and its channel on every node that can subscribe, subscribed while
 * any listener needs it and {@link SUBSCRIPTION_LINGER_MS} after the last left. A wake that comes while nobody
 * listens is passed on to the next member of the queue on that node. On each node, subscribing and
 * unsubscribing run in turn, each bringing the node in line with the member at that moment, so a waiter that
 * arrives while the last one leaves is never left unsubscribed.
 */
class MemberWakes {
  readonly #listeners = new Set<(nodeIndex: number) => void>();
  /** By node index: what ends its subscription (`undefined` while none), its latest step, and whether a SUBSCRIBE is in flight. */
  readonly #unsubscribes: (Unsubscribe | undefined)[] = [];
  readonly #steps: Promise<void>[] = [];
  readonly #isSubscribing: boolean[] = [];
  #lingerTimer: unknown;
  #isClosed = false;

  constructor(
    private readonly adapters: readonly (RedisAdapter | undefined)[],
    /** The resource keys in whose queues a wake nobody here takes is passed on. */
    private readonly keys: readonly string[],
    readonly member: string,
    private readonly clock: Clock,
    private readonly onIdle: () => void,
  ) {}

  /** Subscribed on every node that can subscribe. */
  get isListening(): boolean {
    return !this.#isClosed && this.adapters.every((adapter, nodeIndex) => adapter === undefined || this.#unsubscribes[nodeIndex] !== undefined);
  }

  /**
   * Adds a listener. Returns `undefined` if every node is subscribed already, else a promise per node that
   * resolves with its index once subscribed, or rejects if subscribing failed.
   */
  add(listener: (nodeIndex: number) => void): Promise<number>[] | undefined {
    this.#listeners.add(listener);
    this.clock.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    if (this.isListening) return undefined;
    const subscribed = (nodeIndex: number): number => {
      if (this.#unsubscribes[nodeIndex] === undefined) throw new Error('Release notifications are closed');
      return nodeIndex;
    };
    return this.#syncEvery().map((step, nodeIndex) => step?.then(() => subscribed(nodeIndex))).filter((step) => step !== undefined);
  }

  remove(listener: (nodeIndex: number) => void): void {
    if (!this.#listeners.delete(listener) || this.#listeners.size > 0 || this.#isClosed) return;
    this.#lingerTimer = this.clock.setTimeout(() => {
      this.#lingerTimer = undefined;
      for (const step of this.#syncEvery()) step?.catch(() => undefined);
    }, SUBSCRIPTION_LINGER_MS);
    // A lingering subscription must not keep the process alive.
    unrefTimer(this.#lingerTimer);
  }

  /**
   * Unsubscribes every node now, whoever still listens, and never subscribes again; never rejects. A
   * SUBSCRIBE in flight (waiting for a connection to a node that may be down) is not waited for: the
   * adapter's `close()` ends it, as it ends a channel whose UNSUBSCRIBE failed.
   */
  close(): Promise<void> {
    this.#isClosed = true;
    this.#listeners.clear();
    this.clock.clearTimeout(this.#lingerTimer);
    const isSubscribing = [...this.#isSubscribing];
    const steps = this.#syncEvery().map((step, nodeIndex) => (isSubscribing[nodeIndex] === true ? undefined : step?.catch(() => undefined)));
    return Promise.all(steps).then(() => undefined);
  }

  /** Node `nodeIndex` wakes the member: every listener, or, with none, the next member of the queue there. */
  #onWake(nodeIndex: number): void {
    if (this.#listeners.size > 0) {
      for (const listener of [...this.#listeners]) listener(nodeIndex);
      return;
    }
    // A pass-on that fails (a node down, an adapter that throws) leaves the waiters behind on their timers.
    const adapter = this.adapters[nodeIndex] as RedisAdapter;
    if (!this.#isClosed) Promise.resolve(this.member).then((member) => runScript(adapter, passWakeScript, this.keys, [member])).catch(() => undefined);
  }

  /**
   * On every node that can subscribe, once its step before is done: subscribes if someone listens or the
   * linger runs, else unsubscribes; forgets the member once no node is subscribed and none is wanted. The
   * steps by node index (`undefined` where none), each rejecting if subscribing failed.
   */
  #syncEvery(): (Promise<void> | undefined)[] {
    return this.adapters.map((adapter, nodeIndex) => {
      if (adapter === undefined) return undefined;
      const step = (this.#steps[nodeIndex] ?? Promise.resolve()).then(async () => {
        const isWanted = !this.#isClosed && (this.#listeners.size > 0 || this.#lingerTimer !== undefined);
        const unsubscribe = this.#unsubscribes[nodeIndex];
        if (isWanted && unsubscribe === undefined) {
          this.#isSubscribing[nodeIndex] = true;
          try {
            this.#unsubscribes[nodeIndex] = await (adapter.subscribe as NonNullable<RedisAdapter['subscribe']>)(WAKE_CHANNEL_PREFIX + this.member, () => this.#onWake(nodeIndex));
          } catch (error) {
            if (error instanceof Error && error.message.startsWith('NOPERM')) {
              // Redis 7 denies a new ACL user every channel.
              warnOnce(
                adapter,
                'REDLOCK_NO_CHANNEL_PERMISSION',
                `Node ${nodeIndex} refused to subscribe to a wake channel (${error.message}): waiters there wake on their retry timers instead of at each release. Give the Redis user the channels \`&redlock:wake:*\``,
              );
            }
            throw error;
          } finally {
            this.#isSubscribing[nodeIndex] = false;
          }
        } else if (!isWanted && unsubscribe !== undefined) {
          this.#unsubscribes[nodeIndex] = undefined;
          await unsubscribe();
        }
        if (!isWanted && this.#unsubscribes.every((each) => each === undefined) && !this.#isSubscribing.includes(true)) this.onIdle();
      });
      // A failed step must not block the next one; its own caller sees the failure.
      this.#steps[nodeIndex] = step.catch(() => undefined);
      return step;
    });
  }
}
