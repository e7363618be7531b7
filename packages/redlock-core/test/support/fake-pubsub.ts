import type { Unsubscribe } from '../../src/index.js';
import { acquireScript } from '../../src/scripts/acquire.js';
import { extendScript } from '../../src/scripts/extend.js';
import { LABEL_CHANNEL_PREFIX } from '../../src/scripts/label.js';
import { permitAcquireScript } from '../../src/scripts/permit-acquire.js';
import { permitReleaseScript } from '../../src/scripts/permit-release.js';
import { readWriteAcquireScript } from '../../src/scripts/read-write-acquire.js';
import { leaveQueueScript } from '../../src/scripts/leave-queue.js';
import { releaseScript } from '../../src/scripts/release.js';
import { handOffScript } from '../../src/scripts/hand-off.js';
import { BY_PATTERN_MARK, RESERVE_UNITS, RESERVED_PREFIX, reserveMsOf, ticketPartsOf, WAKE_CHANNEL_PREFIX } from '../../src/scripts/wake-queue.js';
import type { LuaScript } from '../../src/scripts/lua-script.js';
import type { FakeClock } from './fake-clock.js';
import { FakeNode } from '../../src/testing/fake-adapter.js';
import { FakeKeyspace } from '../../src/testing/fake-keyspace.js';
import { grantingNode } from '../../src/testing/fake-nodes.js';

/** The pub/sub side of one fake server: channels and their subscribers, and the wait queues, shared by its connections. */
class FakeBus {
  readonly subscribers = new Map<string, Set<() => void>>();
  /** The connections subscribed to the pattern of every wake channel (`redlock:wake:*`), each with its dispatch. */
  readonly wakePatternSubscribers = new Set<(channel: string) => void>();
  readonly published: string[] = [];
  /** The wait queue of each resource key, in order: members with their scores (see scripts/wake-queue.ts). */
  readonly queues = new Map<string, { member: string; score: number }[]>();
  /** The fair waiters' leases beside each key's queue: expiry on the server's clock, and whether the waiter listens there. */
  readonly leases = new Map<string, Map<string, { readonly expiresAt: number; readonly listens: boolean }>>();

  /** Publishes on `channel`; returns how many subscribers heard it, the pattern's among them, as PUBLISH does. */
  publish(channel: string): number {
    this.published.push(channel);
    const subscribers = [...(this.subscribers.get(channel) ?? [])];
    const patternSubscribers = channel.startsWith(WAKE_CHANNEL_PREFIX) ? [...this.wakePatternSubscribers] : [];
    for (const subscriber of subscribers) subscriber();
    for (const subscriber of patternSubscribers) subscriber(channel);
    return subscribers.length + patternSubscribers.length;
  }

  /** How many connections subscribe to `channel` itself, as `PUBSUB NUMSUB` replies. */
  listenersOf(channel: string): number {
    return this.subscribers.get(channel)?.size ?? 0;
  }

  /**
   * Queues the ticket's member (first with `isFirst`) as `joinQueue` does: at the ticket's place, or for a
   * ticket that asks for one, at the member's place here or one after the queue's last. Returns its place
   * where finite.
   */
  joinQueue(key: string, ticket: string, isFirst: boolean): number | undefined {
    const { member, place, reserveMs } = ticketPartsOf(ticket);
    if (member === '' || place === undefined) return undefined;
    const queue = this.queues.get(key) ?? [];
    this.queues.set(key, queue);
    const current = queue.find((entry) => entry.member === member)?.score;
    let score = -Infinity;
    if (!isFirst) {
      const at = place !== 'next' ? place : current !== undefined ? Math.floor(current) : Math.floor(Math.max(queue.at(-1)?.score ?? 0, 0)) + 1;
      score = at + reserveMs / RESERVE_UNITS;
    }
    if (current !== score) {
      this.leaveQueue(key, member);
      const at = queue.findIndex((other) => other.score > score || (other.score === score && other.member > member));
      queue.splice(at < 0 ? queue.length : at, 0, { member, score });
    }
    return Number.isFinite(score) ? Math.floor(score) : undefined;
  }

  /** Takes the ticket's member out of `key`'s queue, and with `withLease` its lease. */
  leaveQueue(key: string, ticket: string, withLease = false): void {
    const { member } = ticketPartsOf(ticket);
    const queue = this.queues.get(key);
    const index = queue?.findIndex((entry) => entry.member === member) ?? -1;
    if (index >= 0) queue?.splice(index, 1);
    if (withLease) this.leases.get(key)?.delete(member);
  }

  /** Whether the member is a fair waiter that polls (its lease says so) with its lease live at `now`. */
  isPolling(key: string, member: string, now: number): boolean {
    const lease = this.leases.get(key)?.get(member);
    return lease !== undefined && !lease.listens && lease.expiresAt > now;
  }

  /**
   * The first live member of `key`'s queue that is not `member`, dropping the dead ones ahead and waking the
   * live one first then (with `wakesOnlyPastDead`, only if it dropped one), as `fairTurnLua` does, with `leaseMs`
   * giving a live waiter without a lease one; `undefined` when `member` is first, or none waits.
   */
  liveAheadOf(key: string, member: string, now: number, wakesOnlyPastDead = false, leaseMs?: number): string | undefined {
    const queue = this.queues.get(key) ?? [];
    let hasDropped = false;
    for (let first = queue[0]; first !== undefined && first.member !== member; first = queue[0]) {
      const channel = WAKE_CHANNEL_PREFIX + first.member;
      const isListening = this.listenersOf(channel) > 0 || first.member.startsWith(BY_PATTERN_MARK);
      const lease = this.leases.get(key)?.get(first.member);
      const isLive = lease !== undefined ? lease.expiresAt > now && (!lease.listens || isListening) : isListening;
      // A waiter without a lease (a default call's) holds up fair calls only for a lease from the first time one saw it first.
      if (lease === undefined && isLive && leaseMs !== undefined) this.renewLease(key, first.member, now + leaseMs, true);
      if (isLive) {
        if (!wakesOnlyPastDead || hasDropped) this.publish(channel);
        return first.member;
      }
      queue.shift();
      this.leases.get(key)?.delete(first.member);
      hasDropped = true;
    }
    return undefined;
  }

  renewLease(key: string, member: string, expiresAt: number, listens: boolean): void {
    if (member === '') return;
    const leases = this.leases.get(key) ?? new Map<string, { readonly expiresAt: number; readonly listens: boolean }>();
    this.leases.set(key, leases);
    leases.set(member, { expiresAt, listens });
  }

  /**
   * Wakes the queue's first members until `count` of them heard (every member for a negative count), as
   * the release scripts' `wake` (scripts/wake-queue.ts) does: a member is heard when its own channel has a
   * subscriber, or, marked as listening through a pattern, when anyone heard. At a lock's release
   * (`reserve` given) it reserves the key, when free, for one heard that asked for it, and keeps those heard
   * queued; at a claim's, it takes them off the queue but those that asked. A marked member always leaves
   * the queue. Returns the first member heard, `''` for none.
   */
  wakeNext(key: string, count: number, reserve?: (member: string, ms: number) => void, now = 0): string {
    const queue = this.queues.get(key) ?? [];
    let firstHeard = '';
    for (let at = 0; count !== 0 && at < queue.length; ) {
      const { member, score } = queue[at] as { member: string; score: number };
      const channel = WAKE_CHANNEL_PREFIX + member;
      const byPattern = member.startsWith(BY_PATTERN_MARK);
      const published = this.publish(channel);
      // A lock's fair waiter that polls, with its lease live, counts as woken: it is next.
      const isHeard = (byPattern ? published : Math.min(published, this.listenersOf(channel))) > 0 || (reserve !== undefined && this.isPolling(key, member, now));
      const reserveMs = reserveMsOf(score);
      if (isHeard && reserveMs > 0) reserve?.(member, reserveMs);
      // A fair waiter (it has a lease) keeps its place, through a pattern too.
      const isFair = reserve !== undefined && this.leases.get(key)?.has(member) === true;
      if (isHeard && (!byPattern || isFair) && (reserve !== undefined || reserveMs > 0)) at += 1;
      else {
        queue.splice(at, 1);
        if (!isHeard) this.leases.get(key)?.delete(member);
      }
      if (isHeard) {
        count -= 1;
        if (firstHeard === '') firstHeard = member;
      }
    }
    return firstHeard;
  }

  /** How many subscriptions are active on every channel together. */
  get subscriptionCount(): number {
    return [...this.subscribers.values()].reduce((count, set) => count + set.size, 0);
  }
}


const busOf = new WeakMap<FakeKeyspace, FakeBus>();

function bus(keyspace: FakeKeyspace): FakeBus {
  let found = busOf.get(keyspace);
  if (found === undefined) {
    found = new FakeBus();
    busOf.set(keyspace, found);
  }
  return found;
}

/**
 * A {@link FakeNode} that also offers the optional `subscribe` capability, and keeps the wait queues of
 * scripts/wake-queue.ts in the same atomic step as the script that runs on the node: a release wakes the next
 * queued member (and reserves the key for one close to giving up) as it deletes the key, before any command
 * that reaches the node after it.
 */
export class PubSubFakeNode extends FakeNode {
  /** Every SUBSCRIBE this connection sent. */
  readonly subscribeCalls: string[] = [];
  /** Makes `subscribe` reject, as a node that refuses SUBSCRIBE would. */
  subscribeError: Error | undefined;
  /** Makes `subscribe` never settle, as a hung node would. */
  isSubscribeHanging = false;
  /** How long a SUBSCRIBE takes to be in place (and `subscribe` to resolve), as on a slow node: 0 by default. */
  subscribeDelayMs = 0;
  readonly #clock: FakeClock;
  /** The listeners of each wake channel, once {@link PubSubFakeNode.holdWakePattern} was called. */
  #patternListeners: Map<string, Set<() => void>> | undefined;
  /** What ends each subscription of this connection (see {@link PubSubFakeNode.dropSubscriptions}). */
  readonly #subscriptions = new Set<() => void>();

  constructor(clock: FakeClock, keyspace: FakeKeyspace = new FakeKeyspace(clock)) {
    super(clock, keyspace);
    this.#clock = clock;
  }

  override async evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    if (sha1 === extendScript.sha1 && args[4] !== undefined) return this.#announcingLabels(keys, args, () => super.evalsha(sha1, keys, args));
    return super.evalsha(sha1, keys, args);
  }

  override async eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    if (source === extendScript.source && args[4] !== undefined) return this.#announcingLabels(keys, args, () => super.eval(source, keys, args));
    return super.eval(source, keys, args);
  }

  /** Keeps the wait queues in the same atomic step as the script, as the scripts do (see {@link #queueAndWake}). */
  protected override ranScript(script: LuaScript, keys: readonly string[], args: readonly string[], run: () => unknown): unknown {
    const before = this.#entriesOf(keys[0] ?? '', args);
    if (script.sha1 !== acquireScript.sha1 || (args[5] ?? '') === '') return this.#queueAndWake(script.sha1, keys, args, run(), before);
    const turn = this.#fairTurn(keys, args);
    if (turn === 'another') return this.#queueAndWake(script.sha1, keys, args, 0, before);
    const reply = this.#queueAndWake(script.sha1, keys, args, run(), before);
    // A grant tells a ticket that asked for a place where it queued, as the script does.
    const isGrant = reply === 1 || (Array.isArray(reply) && reply[0] === 1);
    if (!isGrant || turn === undefined || ticketPartsOf(args[4] ?? '').place !== 'next') return reply;
    return [1, Array.isArray(reply) ? reply[1] : 0, turn];
  }

  /**
   * For a fair acquisition (see `fairTurnLua`), where every key is free (or ours, or reserved for its member)
   * and some of them free: the caller joins the queues, and `'another'` when another live waiter is first in a
   * key's queue (the script then refuses, as if held), else the caller's highest place. `undefined` otherwise.
   */
  #fairTurn(keys: readonly string[], args: readonly string[]): 'another' | number | undefined {
    const resourceKeys = args[3] === '1' ? keys.slice(0, keys.length / 2) : keys;
    const [token = ''] = args;
    const { member } = ticketPartsOf(args[4] ?? '');
    let isAnyFree = false;
    for (const key of resourceKeys) {
      const value = this.keyspace.peek(key)?.value;
      if (value === undefined || (member !== '' && value === `${RESERVED_PREFIX}${member}`)) isAnyFree = true;
      else if (value !== token) return undefined;
    }
    if (!isAnyFree) return undefined;
    const queues = bus(this.keyspace);
    const now = this.keyspace.now();
    let isAhead = false;
    let highest: number | undefined;
    for (const key of resourceKeys) {
      // The caller takes its place first, as the script does.
      const place = queues.joinQueue(key, args[4] ?? '', false);
      if (place !== undefined) highest = Math.max(highest ?? 0, place);
      if (queues.liveAheadOf(key, member, now, false, Number(args[5]) || 0) !== undefined) isAhead = true;
    }
    // First, and so granted: it stays first until its release, live by its lease, as the script renews it.
    if (!isAhead) for (const key of resourceKeys) queues.renewLease(key, member, now + (Number(args[5]) || 0), args[6] === '1');
    return isAhead ? 'another' : highest;
  }

  /** Runs a labelled extension, announcing each label it changed on its key's label channel, as the script does. */
  async #announcingLabels(keys: readonly string[], args: readonly string[], run: () => Promise<unknown>): Promise<unknown> {
    // The label keys follow the resource keys; with a fencing token (args[3]), the counter keys follow them.
    const resourceKeys = keys.slice(0, keys.length / (args[3] === '' ? 2 : 3));
    const labelsOf = (): (string | undefined)[] => keys.slice(resourceKeys.length, 2 * resourceKeys.length).map((key) => this.keyspace.peek(key)?.value);
    const before = labelsOf();
    const reply = await run();
    labelsOf().forEach((label, index) => {
      if (label !== before[index]) bus(this.keyspace).publish(LABEL_CHANNEL_PREFIX + resourceKeys[index]);
    });
    return reply;
  }

  /** Whether this connection hears wakes through a pattern: see {@link PubSubFakeNode.holdWakePattern}. */
  get subscribesByPattern(): boolean {
    return this.#patternListeners !== undefined;
  }

  /**
   * Subscribes this connection to the pattern of every wake channel for good, as a GLIDE client with release
   * notifications is from its creation: from then on its `subscribe` only adds listeners, the node counts
   * the connection as hearing every wake, and a `Redlock` over it marks its queue members.
   */
  holdWakePattern(): this {
    if (this.#patternListeners === undefined) {
      const listeners = new Map<string, Set<() => void>>();
      this.#patternListeners = listeners;
      bus(this.keyspace).wakePatternSubscribers.add((channel) => {
        for (const listener of [...(listeners.get(channel) ?? [])]) listener();
      });
    }
    return this;
  }

  subscribe(channel: string, onMessage: () => void): Promise<Unsubscribe> {
    const patternListeners = this.#patternListeners;
    if (patternListeners !== undefined && channel.startsWith(WAKE_CHANNEL_PREFIX)) {
      const listeners = patternListeners.get(channel) ?? new Set();
      patternListeners.set(channel, listeners);
      listeners.add(onMessage);
      return Promise.resolve(async () => {
        listeners.delete(onMessage);
      });
    }
    this.subscribeCalls.push(channel);
    if (this.subscribeError !== undefined) return Promise.reject(this.subscribeError);
    if (this.isSubscribeHanging) return new Promise(() => undefined);
    if (this.subscribeDelayMs > 0) {
      const delayMs = this.subscribeDelayMs;
      return new Promise<void>((resolve) => this.#clock.setTimeout(() => resolve(), delayMs)).then(() => this.#subscribeNow(channel, onMessage));
    }
    return this.#subscribeNow(channel, onMessage);
  }

  #subscribeNow(channel: string, onMessage: () => void): Promise<Unsubscribe> {
    const subscribers = bus(this.keyspace).subscribers;
    const set = subscribers.get(channel) ?? new Set();
    subscribers.set(channel, set);
    set.add(onMessage);
    const subscription = (): void => void set.delete(onMessage);
    this.#subscriptions.add(subscription);
    return Promise.resolve(async () => {
      this.#subscriptions.delete(subscription);
      subscription();
    });
  }

  /**
   * Ends this connection's subscriptions, as a server does when the connection closes (its process exited): the
   * client is not told. With {@link FakeNode.hang}, a process killed while its connections were still open.
   */
  dropSubscriptions(): void {
    for (const subscription of this.#subscriptions) subscription();
    this.#subscriptions.clear();
  }

  /** Publishes on `channel` of this node's server, as any client of the server can: a forged wake. */
  publish(channel: string): void {
    bus(this.keyspace).publish(channel);
  }

  /** The members in the wait queue of resource key `key` on this node's server, head first. */
  queueOf(key: string): readonly string[] {
    return (bus(this.keyspace).queues.get(key) ?? []).map((entry) => entry.member);
  }

  /** Channels published on this node's server, in order. */
  get published(): readonly string[] {
    return bus(this.keyspace).published;
  }

  /** Subscriptions active on this node's server. */
  get subscriptionCount(): number {
    return bus(this.keyspace).subscriptionCount;
  }

  /** A second connection to the same server, also able to subscribe. */
  override connectAnotherClient(): PubSubFakeNode {
    return new PubSubFakeNode(this.#clock, this.keyspace);
  }

  /**
   * The wait queues as the scripts keep them: a refused acquisition joins the queue of each key (a request
   * whose intent a node keeps, first), an admitted one leaves them; a release that freed something takes
   * the releaser out and wakes the next (a semaphore's, one per entry freed; a read-write lock's, every one).
   * The quiet releases, for a failed attempt's keys, wake nobody.
   */
  #queueAndWake(sha1: string, keys: readonly string[], args: readonly string[], reply: unknown, before: { readonly isReadWrite: boolean; readonly freed: number }): unknown {
    const queues = bus(this.keyspace);
    const key = keys[0] ?? '';
    if (sha1 === acquireScript.sha1) {
      const resourceKeys = args[3] === '1' ? keys.slice(0, keys.length / 2) : keys;
      const member = args[4] ?? '';
      const fairLeaseMs = Number(args[5] ?? '') || 0;
      if (reply === 0) {
        // The script reports the member's highest place; a fair waiter renews its lease.
        const places = resourceKeys.map((resourceKey) => queues.joinQueue(resourceKey, member, false)).filter((place) => place !== undefined);
        if (fairLeaseMs > 0) for (const resourceKey of resourceKeys) queues.renewLease(resourceKey, ticketPartsOf(member).member, this.keyspace.now() + fairLeaseMs, args[6] === '1');
        // A ticket with a place is queued at it: the reply says a place only to one that asked for it.
        return places.length > 0 && ticketPartsOf(member).place === 'next' ? [0, Math.max(...places)] : 0;
      }
      // A fair holder stays first until its release.
      if (fairLeaseMs > 0) return reply;
      if (reply === 1 || (Array.isArray(reply) && reply[0] === 1)) for (const resourceKey of resourceKeys) queues.leaveQueue(resourceKey, member);
    } else if (sha1 === permitAcquireScript.sha1 && Array.isArray(reply)) {
      const [, , , , , , intent = '', , member = ''] = args;
      if (reply[0] === 0) queues.joinQueue(key, member, intent !== '' && this.keyspace.hashOf(key)?.get('i')?.endsWith(`:${intent}`) === true);
      else queues.leaveQueue(key, member);
    } else if (sha1 === readWriteAcquireScript.sha1) {
      const member = args[6] ?? '';
      if (reply === 0 || reply === 2 || reply === 3) queues.joinQueue(key, member, false);
      else if (reply === 1) queues.leaveQueue(key, member);
    } else if (sha1 === releaseScript.sha1 && (Array.isArray(reply) ? reply[0] : reply) > 0) {
      let heard = '';
      for (const resourceKey of keys) {
        queues.leaveQueue(resourceKey, args[1] ?? '', true);
        if (this.keyspace.typeOf(resourceKey) !== 'none') continue;
        const woken = queues.wakeNext(resourceKey, 1, this.#reserver(resourceKey), this.keyspace.now());
        if (heard === '') heard = woken;
      }
      // Asked which waiting process heard a wake (a fair lock's release), it says so.
      if (Array.isArray(reply)) return [reply[0], heard];
    } else if (sha1 === handOffScript.sha1) {
      // At the first free key where the process awaited is first: it, or the live one behind it once it is dropped
      // as dead (woken then), as the script does.
      const awaited = args[0] ?? '';
      for (const resourceKey of keys) {
        if (this.keyspace.typeOf(resourceKey) !== 'none' || queues.queues.get(resourceKey)?.[0]?.member !== awaited) continue;
        return queues.liveAheadOf(resourceKey, '', this.keyspace.now(), true) ?? '';
      }
      return '';
    } else if (sha1 === leaveQueueScript.sha1) {
      const { member } = ticketPartsOf(args[0] ?? '');
      for (const resourceKey of keys) {
        const wasFirst = args[1] === '1' && queues.queues.get(resourceKey)?.[0]?.member === member;
        queues.leaveQueue(resourceKey, member, true);
        if (wasFirst && this.keyspace.typeOf(resourceKey) === 'none') queues.wakeNext(resourceKey, 1, this.#reserver(resourceKey), this.keyspace.now());
      }
    } else if (sha1 === permitReleaseScript.sha1 && reply === 1) {
      queues.leaveQueue(key, args[2] ?? '');
      queues.wakeNext(key, before.isReadWrite ? -1 : before.freed);
    }
    return reply;
  }

  /** For a permit release of `args` on `key`, before it runs: whether the hash is a read-write lock, and how many entries it frees. */
  #entriesOf(key: string, args: readonly string[]): { readonly isReadWrite: boolean; readonly freed: number } {
    const hash = this.keyspace.typeOf(key) === 'hash' ? this.keyspace.hashOf(key) : undefined;
    if (hash === undefined) return { isReadWrite: false, freed: 0 };
    const [token = '', other = '', , ...kept] = args;
    let freed = 0;
    for (const [field, value] of hash) {
      const holder = value.slice(value.indexOf(':') + 1);
      if (!kept.includes(field) && value.includes(':') && (holder === token || (other !== '' && holder === other))) freed += 1;
    }
    return { isReadWrite: hash.has('rw'), freed };
  }

  /** Reserves lock key `key`, if free, for a queue member, as a release's `wakeNext` does (see scripts/wake-queue.ts). */
  #reserver(key: string): (member: string, ms: number) => void {
    return (member, ms) => {
      if (this.keyspace.typeOf(key) === 'none') this.keyspace.set(key, `${RESERVED_PREFIX}${member}`, ms);
    };
  }
}

/** A healthy pub/sub-capable node with every script cached. */
export function pubSubNode(clock: FakeClock): PubSubFakeNode {
  return new PubSubFakeNode(clock, grantingNode(clock).keyspace);
}
