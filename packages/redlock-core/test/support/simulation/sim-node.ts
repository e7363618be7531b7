import type { RedisAdapter, Unsubscribe } from '../../../src/index.js';
import type { LuaScript } from '../../../src/scripts/lua-script.js';
import { inspectScript } from '../../../src/scripts/inspect.js';
import { probeScript } from '../../../src/scripts/probe.js';
import { connectionRefused, KNOWN_SCRIPTS } from '../../../src/testing/fake-adapter.js';
import { FakeKeyspace } from '../../../src/testing/fake-keyspace.js';
import type { FakeClock } from '../fake-clock.js';
import { PubSubFakeNode } from '../fake-pubsub.js';
import { DriftingClock } from './drifting-clock.js';

/** How a client hears wakes: not at all, on its own channels, or through the pattern of them all (GLIDE's way). */
export type Notifications = boolean | 'pattern';

/** How the network between one client and one node behaves when nothing is wrong with it. */
export interface LinkSpec {
  /** Each message, request or reply, takes a latency uniform in [min, max] milliseconds of true time. */
  readonly minLatencyMs: number;
  readonly maxLatencyMs: number;
  /** Probability that one message, request or reply, is lost (a dropped packet that breaks the call). */
  readonly dropRate: number;
}

/** How a reply reached the client: a script's value, a `NOSCRIPT` error (no effect), or another error. */
export type ReplyKind = 'value' | 'noscript' | 'error';

/**
 * The scripts the simulation names in its call log: those the fake adapter knows, but the inspections and
 * the server probe, which its worlds never send.
 */
const NAMED_SCRIPTS: readonly LuaScript[] = KNOWN_SCRIPTS.filter((script) => script !== inspectScript && script !== probeScript);

/** A script's name, as a call record gives it. */
export type ScriptName = 'acquire' | 'extend' | 'release' | 'fence' | 'permit-acquire' | 'permit-extend' | 'permit-release' | 'permit-inspect' | 'read-write-acquire' | 'read-write-inspect';

/** One call from one client to one node, as the network saw it. */
export interface CallRecord {
  readonly clientIndex: number;
  readonly nodeIndex: number;
  /** The script, `'subscribe'` for a SUBSCRIBE to a release channel, `undefined` for an unknown script. */
  readonly script: ScriptName | 'subscribe' | undefined;
  /**
   * `ARGV[1]` of every script but `'fence'` (whose ARGV[1] is a fencing token): the token of a lock, of a
   * semaphore's or a read-write lock's holder; `undefined` for `'fence'` and SUBSCRIBE.
   */
  readonly token: string | undefined;
  /** Every `ARGV` of a script (a writer's intent id is one), `[]` for SUBSCRIBE. */
  readonly args: readonly string[];
  /** True time the client sent it. */
  readonly sentAtMs: number;
  /** When and how the reply reached the client; `undefined` while it has not (or never will). */
  replied: { readonly atMs: number; readonly kind: ReplyKind } | undefined;
}

/** How long every node has been up when a world starts: long before any TTL, as in production. */
const INITIAL_UPTIME_MS = 86_400_000;

/** What a request does on arrival: run it, or refuse it because the server is down. */
interface Delivery {
  readonly run: () => void;
  readonly refuse: () => void;
}

/**
 * One simulated Redis server: a {@link FakeKeyspace} whose TTLs run on the server's own (possibly drifting
 * or jumping) clock, and the faults a server can have. Requests arrive through {@link SimConnection}s.
 *
 * up ──crash()──▶ down ──restart()──▶ up (new `runId`, uptime 0, scripts flushed, keys kept only with
 * persistence) · up ──pause()──▶ paused (requests queue) ──resume()──▶ up (queued requests run in order) ·
 * `isPartitioned` loses every request and reply on the way · `extraLatencyMs` slows every message.
 *
 * Restart detection: `keyspace.runId` and `keyspace.uptimeMs` are what INFO server reports. A script that
 * reads them is taught to every fake node with `defineFakeScript()` (fake-adapter.ts); an optional adapter
 * capability would be added to {@link SimConnection}, reading `node.keyspace`.
 */
export class SimNode {
  readonly index: number;
  /** The server's clock, which expires its keys. */
  readonly clock: DriftingClock;
  readonly keyspace: FakeKeyspace;
  isDown = false;
  isPaused = false;
  isPartitioned = false;
  /** Added to the latency of every message to and from this node, in true milliseconds. */
  extraLatencyMs = 0;
  /** Every restart: true time, whether the data survived, and the new run id. */
  readonly restarts: { readonly atMs: number; readonly persistence: boolean; readonly runId: string }[] = [];

  readonly #trueClock: FakeClock;
  /** Runs scripts with the fake's semantics (and publishes releases), at once: delays live in the connections. */
  readonly #server: PubSubFakeNode;
  /** The connection that holds the pattern of every wake channel, once a client listens by pattern. */
  #patternConnection: PubSubFakeNode | undefined;
  #queued: Delivery[] = [];
  /** How many times the node went down: see {@link crash}. */
  #outage = 0;

  constructor(index: number, trueClock: FakeClock, clockRate: number) {
    this.index = index;
    this.#trueClock = trueClock;
    this.clock = new DriftingClock(trueClock, clockRate);
    this.keyspace = new FakeKeyspace(this.clock);
    this.keyspace.startedAtMs = this.clock.now() - INITIAL_UPTIME_MS;
    this.#server = new PubSubFakeNode(trueClock, this.keyspace);
  }

  /** A request reached the node: it runs now, waits while the node is paused, or is refused while down. */
  receive(delivery: Delivery): void {
    if (this.isDown) delivery.refuse();
    else if (this.isPaused) this.#queued.push(delivery);
    else delivery.run();
  }

  /** Runs a script now, atomically; the promise is already settled when this returns. */
  execute(method: 'evalsha' | 'eval', first: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return method === 'evalsha' ? this.#server.evalsha(first, keys, args) : this.#server.eval(first, keys, args);
  }

  /**
   * Subscribes `onMessage` to `channel` now; `byPattern`, through the pattern of every wake channel, which
   * the node then holds for good, as GLIDE clients stay subscribed. Subscriptions outlive restarts, as
   * ioredis subscribes again after it reconnects.
   */
  subscribe(channel: string, onMessage: () => void, byPattern = false): Promise<Unsubscribe> {
    if (!byPattern) return this.#server.subscribe(channel, onMessage);
    this.#patternConnection ??= this.#server.connectAnotherClient().holdWakePattern();
    return this.#patternConnection.subscribe(channel, onMessage);
  }

  /**
   * The process dies, if it is up: queued requests are lost, new ones are refused. Returns the number of
   * the outage it began, or `undefined` if the node was down already (that crash changes nothing).
   */
  crash(): number | undefined {
    if (this.isDown) return undefined;
    this.isDown = true;
    this.isPaused = false;
    this.#queued = [];
    this.#outage += 1;
    return this.#outage;
  }

  /**
   * The process starts again, if it is still down in `outage` (see {@link crash}; a restart belongs to the
   * crash that took the node down, so a world's rule that an empty restart comes after every TTL holds
   * however faults overlap); see {@link FakeKeyspace.restart}. Returns whether it did.
   */
  restart(outage: number | undefined, persistence: boolean): boolean {
    if (!this.isDown || outage !== this.#outage) return false;
    this.isDown = false;
    this.keyspace.restart({ persistence });
    this.restarts.push({ atMs: this.#trueClock.now(), persistence, runId: this.keyspace.runId });
    return true;
  }

  /** SIGSTOP: requests queue up unanswered. */
  pause(): void {
    if (!this.isDown) this.isPaused = true;
  }

  /** SIGCONT: the queued requests run, in arrival order. */
  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    for (const delivery of this.#queued.splice(0)) delivery.run();
  }

  /** Whether every one of `keys` holds `token` on this node now. */
  holds(keys: readonly string[], token: string): boolean {
    return keys.every((key) => this.keyspace.get(key) === token);
  }

  /**
   * Whether any key holds `holder` (a token, or a writer's intent id) on this node now: a lock's key, or
   * an unexpired entry `<expiry>:<holder>` of a semaphore's or a read-write lock's hash.
   */
  holdsAny(holder: string): boolean {
    const { keyspace } = this;
    const now = Math.floor(keyspace.now());
    return keyspace.keys().some((key) => {
      const fields = keyspace.hashOf(key);
      if (fields === undefined) return keyspace.typeOf(key) === 'string' && keyspace.get(key) === holder;
      return [...fields.values()].some((value) => value.endsWith(`:${holder}`) && Number(value.slice(0, value.indexOf(':'))) > now);
    });
  }
}

const SCRIPT_NAMES = new Map<string, ScriptName>(
  NAMED_SCRIPTS.flatMap((script) => [
    [script.sha1, script.name as ScriptName],
    [script.source, script.name as ScriptName],
  ]),
);

/**
 * One client's connection to one {@link SimNode}, implementing the core's {@link RedisAdapter} over a
 * simulated network: every request and reply takes a random latency, may be lost, and stays in order
 * (one TCP connection: a later request never arrives before an earlier one, nor a reply). A lost
 * message is never answered, so the core's per-node timeout ends the call.
 */
export class SimConnection implements RedisAdapter {
  readonly node: SimNode;
  /** Present only for a client with release notifications, as the core detects the capability. */
  readonly subscribe?: (channel: string, onMessage: () => void) => Promise<Unsubscribe>;
  /** Whether this client hears wakes through the pattern of every wake channel, as a GLIDE client does. */
  readonly subscribesByPattern: boolean;
  readonly #clientIndex: number;
  readonly #link: LinkSpec;
  readonly #random: () => number;
  readonly #trueClock: FakeClock;
  readonly #log: CallRecord[];
  #lastArrivalMs = 0;
  #lastReplyMs = 0;
  /** Set once the client's process died (see {@link crash}). */
  #isCrashed = false;
  /** What ends each subscription this connection made on the node: its server ends them when the connection closes. */
  readonly #subscriptions: Unsubscribe[] = [];

  constructor(init: {
    node: SimNode;
    clientIndex: number;
    link: LinkSpec;
    random: () => number;
    trueClock: FakeClock;
    log: CallRecord[];
    /** Whether this connection offers `subscribe` (release notifications), and how it listens. */
    notifications: Notifications;
  }) {
    this.node = init.node;
    const byPattern = init.notifications === 'pattern';
    this.subscribesByPattern = byPattern;
    if (init.notifications !== false) this.subscribe = (channel, onMessage) => this.#subscribe(channel, onMessage, byPattern);
    this.#clientIndex = init.clientIndex;
    this.#link = init.link;
    this.#random = init.random;
    this.#trueClock = init.trueClock;
    this.#log = init.log;
  }

  /**
   * While the node is down (crashed, not yet restarted), the client has no connection to it, as ioredis'
   * does once it saw the socket close (see `RedisAdapter.connectionError`): the error a request was
   * refused with, or a refused connection.
   */
  connectionError(error?: unknown): unknown {
    if (!this.node.isDown) return undefined;
    return error ?? Object.assign(new Error(`connect ECONNREFUSED (simulated node ${this.node.index})`), { code: 'ECONNREFUSED' });
  }

  /**
   * The client's process dies: it sends nothing more, and nothing reaches it; requests already on their
   * way still run. The node sees the connection, and its subscriptions, until the system closes it
   * `lingerMs` later (a killed Node.js process's take 15-50 ms).
   */
  crash(lingerMs: number): void {
    this.#isCrashed = true;
    this.#trueClock.setTimeout(() => {
      for (const unsubscribe of this.#subscriptions.splice(0)) void unsubscribe();
    }, lingerMs);
  }

  evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#call('evalsha', sha1, keys, args);
  }

  eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#call('eval', source, keys, args);
  }

  /**
   * SUBSCRIBE travels like any request (and may be lost: the core bounds how long it waits for it); each
   * message travels back like a reply, and is lost like one, or while the node is partitioned.
   */
  #subscribe(channel: string, onMessage: () => void, byPattern: boolean): Promise<Unsubscribe> {
    const record = this.#record('subscribe', undefined, []);
    const answer = (kind: ReplyKind, settle: () => void): void =>
      this.#sendBack(() => {
        record.replied = { atMs: this.#trueClock.now(), kind };
        settle();
      });
    return new Promise((resolve, reject) => {
      this.#send({
        run: () => {
          void this.node.subscribe(channel, () => this.#sendBack(onMessage), byPattern).then((unsubscribe) => {
            this.#subscriptions.push(unsubscribe);
            answer('value', () => resolve(unsubscribe));
          });
        },
        refuse: () => answer('error', () => reject(connectionRefused())),
      });
    });
  }

  #call(method: 'evalsha' | 'eval', first: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const script = SCRIPT_NAMES.get(first);
    const record = this.#record(script, script === 'fence' ? undefined : args[0], args);
    return new Promise((resolve, reject) => {
      const answer = (kind: ReplyKind, value: unknown): void =>
        this.#sendBack(() => {
          record.replied = { atMs: this.#trueClock.now(), kind };
          if (kind === 'value') resolve(value);
          else reject(value);
        });
      this.#send({
        run: () => {
          void this.node.execute(method, first, keys, args).then(
            (value) => answer('value', value),
            (error: unknown) => answer(isNoScript(error) ? 'noscript' : 'error', error),
          );
        },
        refuse: () => answer('error', connectionRefused()),
      });
    });
  }

  /** Logs a request as sent now, not yet answered. */
  #record(script: CallRecord['script'], token: string | undefined, args: readonly string[]): CallRecord {
    const record: CallRecord = {
      clientIndex: this.#clientIndex,
      nodeIndex: this.node.index,
      script,
      token,
      args,
      sentAtMs: this.#trueClock.now(),
      replied: undefined,
    };
    this.#log.push(record);
    return record;
  }

  /**
   * Sends a request to the node: it may be lost; else it arrives after a random latency, never before an
   * earlier one, and the node runs it (or refuses it while down).
   */
  #send(request: { run: () => void; refuse: () => void }): void {
    if (this.#isCrashed || this.#isLost()) return;
    const clock = this.#trueClock;
    const now = clock.now();
    this.#lastArrivalMs = Math.max(this.#lastArrivalMs, now + this.#latencyMs());
    clock.setTimeout(() => {
      // A partition that began while the request was on its way swallows it too.
      if (this.node.isPartitioned) return;
      this.node.receive(request);
    }, this.#lastArrivalMs - now);
  }

  /** Sends a reply or message back to the client: it may be lost; else `deliver` runs after a random latency, in order. */
  #sendBack(deliver: () => void): void {
    if (this.#isCrashed || this.#isLost()) return;
    const clock = this.#trueClock;
    const now = clock.now();
    this.#lastReplyMs = Math.max(this.#lastReplyMs, now + this.#latencyMs());
    clock.setTimeout(() => {
      if (!this.#isCrashed) deliver();
    }, this.#lastReplyMs - now);
  }

  #latencyMs(): number {
    const { minLatencyMs, maxLatencyMs } = this.#link;
    return minLatencyMs + this.#random() * (maxLatencyMs - minLatencyMs) + this.node.extraLatencyMs;
  }

  #isLost(): boolean {
    return this.#random() < this.#link.dropRate || this.node.isPartitioned;
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
