import type { RedisAdapter } from '../base/adapter.js';
import { type Admission, CircuitBreaker } from './circuit-breaker.js';
import { NodeLatency } from './node-latency.js';
import type { Clock } from '../base/clock.js';
import { type NodeOperation } from '../base/diagnostics.js';
import { publishNodeError } from '../base/tracing.js';
import type { NodeOutcome } from '../base/outcomes.js';
import { NodeConfigurationError } from '../base/errors.js';
import { NodeError } from '../base/redlock-error.js';
import { Lifecycle } from '../base/lifecycle.js';
import { warnOnce } from '../base/warnings.js';
import type { ResolvedNode } from '../settings/resolve-nodes.js';
import type { ResolvedOptions } from '../settings/resolve-options.js';
import { errorMessageOf, isNoPermissionError, runScript } from '../scripts/lua-script.js';
import { parseProbeReply, probeScript, type ServerFacts } from '../scripts/probe.js';
import { NodeCallCounters } from './stats.js';
import { isEvictingPolicy, ServerRegistry } from './server-registry.js';

/**
 * The nodes of one `Redlock`, its settings and what it learnt about its servers, shared by every lock it
 * hands out.
 * @internal
 */
export interface NodeSet {
  readonly nodes: readonly NodeState[];
  readonly options: ResolvedOptions;
  readonly servers: ServerRegistry;
  /** Whether the `Redlock` is closed, and the background work and timers that `close()` stops. */
  readonly lifecycle: Lifecycle;
  /**
   * When a release of each lock last woke waiters through every node, on the clock, by the lock's first key:
   * see `wakingNodeOf` (lock/release.ts). Forgetting an entry is always safe: that lock's next release wakes
   * through every node.
   */
  readonly everyNodeWakes: Map<string, number>;
}

/** Rejects every operation once two nodes were found to be the same server (see {@link ServerRegistry}). */
export function throwIfMisconfigured(set: NodeSet): void {
  const error = set.servers.configurationError;
  if (error !== undefined) throw error;
}

/** The node nearest by its round trip among those that are up and set in `written`, or -1 for none. */
export function nearestNodeOf(set: NodeSet, written: readonly boolean[]): number {
  let nearest = -1;
  let nearestRttMs = Infinity;
  for (let nodeIndex = 0; nodeIndex < written.length; nodeIndex += 1) {
    const node = set.nodes[nodeIndex] as NodeState;
    if (written[nodeIndex] !== true || !node.breaker.isUp) continue;
    const rttMs = node.latency.smoothedRttMs ?? Infinity;
    if (nearest === -1 || rttMs < nearestRttMs) {
      nearest = nodeIndex;
      nearestRttMs = rttMs;
    }
  }
  return nearest;
}

/** The node set of validated nodes and options. */
export function createNodeSet(nodes: readonly ResolvedNode[], options: ResolvedOptions): NodeSet {
  const servers = new ServerRegistry(options.refuseEvictingNodes);
  return {
    nodes: nodes.map((node, index) => new NodeState(node, index, servers, options.nodeTimeoutMs)),
    options,
    servers,
    lifecycle: new Lifecycle(options.clock, nodes.length),
    everyNodeWakes: new Map(),
  };
}

/** Health of one node as its calls show it, from `redlock.nodeHealth()`. */
export interface NodeHealth {
  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly nodeIndex: number;
  /**
   * `'up'` while it answers; `'down'` from the moment a call passed its timeout unanswered, or failed
   * because its client had no connection (see `RedisAdapter.connectionError`), until the node answers
   * anything again (that call late, or a later one): new calls are then refused at once without a command
   * sent, except one probe at a time (the first at once, the next ones at growing intervals; for a node
   * without a connection, once its client has connected again), so a node that hangs holds no pile of
   * commands in its client and a node that refuses connections costs no wait; `'refused'` when its server
   * is unusable (see `refuseEvictingNodes`).
   */
  readonly state: 'up' | 'down' | 'refused';
  /** How many calls timed out since the node last answered (late answers count); 0 while `'up'`. */
  readonly timeoutsInARow: number;
  /** While down, milliseconds until the next probe may go out: 0 when one may go now or is in flight. */
  readonly probeInMs: number;
  /** The server's `maxmemory-policy` as it reported it, or `undefined` until the node first answered. */
  readonly maxmemoryPolicy: string | undefined;
  /**
   * The node's smoothed round trip in milliseconds, from its answers (the time from sending a script to its
   * reply), or `undefined` before the first. Unless a timeout is configured, the node's recent round trips
   * set its timeout, within bounds set by the TTL (see `nodeTimeoutMs`).
   */
  readonly rttMs: number | undefined;
  /** The mean deviation of the node's round trip from `rttMs`, in milliseconds; 0 before the first answer. */
  readonly rttDeviationMs: number;
}

type FailedOutcome = Extract<NodeOutcome<never>, { readonly error: NodeError }>;

/**
 * One node as a `Redlock` sees it: its adapter and timeout, plus what its calls taught: whether it
 * answers (its {@link CircuitBreaker}) and which server it is. At first contact a probe script tells the
 * server's run id, so that one server is never counted as two nodes, and its eviction policy, which can
 * delete lock keys under memory pressure.
 */
export class NodeState implements ResolvedNode {
  readonly adapter: RedisAdapter;
  readonly timeoutMs: number | undefined;
  /** Index of the node in the array passed to the `Redlock` constructor. */
  readonly index: number;
  readonly breaker = new CircuitBreaker();
  /** The node's measured round trip, which sets its timeout unless one is configured. */
  readonly latency = new NodeLatency();
  /** The calls that got no answer, for `redlock.stats()`. */
  readonly callCounters = new NodeCallCounters();
  /** Whether the node's timeout follows its round trip: no `timeoutMs` of its own, no `nodeTimeoutMs`. */
  readonly isTimeoutAdaptive: boolean;
  readonly #servers: ServerRegistry;
  /** `undefined` until the server is known; a pending probe; or what it told. */
  #facts: Promise<void> | ServerFacts | 'unverifiable' | undefined;
  /** Why every call is refused, for a node whose server must not be used. */
  #refusal: NodeError | undefined;
  /** Why the last probe failed, while the server is not known. */
  #probeError: unknown;
  /** What {@link isKnownToRunScripts} tells, kept as the probe answers: a field read on every acquisition. */
  #runsScripts = false;
  /** While the node is down for want of a connection (see {@link callFailed}), its latest error: the cause of the calls refused. */
  #connectionError: unknown;

  /** One frozen outcome per status answered, in a list: a few interned strings compare faster than a `Map` hashes. */
  readonly #answers: NodeOutcome<string>[] = [];

  /** The outcome of a call this node answered with `status`, shared by every such call rather than one allocated per answer. */
  answerOf<S extends string>(status: S): NodeOutcome<S> {
    const answers = this.#answers;
    for (let index = 0; index < answers.length; index += 1) {
      const answer = answers[index] as NodeOutcome<string>;
      if (answer.status === status) return answer as NodeOutcome<S>;
    }
    const outcome = Object.freeze({ nodeIndex: this.index, status }) as NodeOutcome<S>;
    answers.push(outcome);
    return outcome;
  }

  /** @param redlockTimeoutMs - The `Redlock`'s `nodeTimeoutMs`, if set. */
  constructor(node: ResolvedNode, index: number, servers: ServerRegistry, redlockTimeoutMs?: number) {
    this.adapter = node.adapter;
    this.timeoutMs = node.timeoutMs;
    this.isTimeoutAdaptive = node.timeoutMs === undefined && redlockTimeoutMs === undefined;
    this.index = index;
    this.#servers = servers;
  }

  /**
   * Opens a call to this node: `'call'`, `'probe'` (a silent node's one call at a time, see
   * {@link CircuitBreaker}), or the outcome to settle it with at once, nothing sent: a refused server, or a
   * silent or disconnected node (counted and published as part of `operation`). With {@link checkServer}
   * and the `call…` methods below, the one way a node call reaches the node's health.
   */
  admitCall<S extends string>(clock: Clock, operation: NodeOperation): Exclude<Admission, 'refused'> | NodeOutcome<S> {
    let refusal = this.#refusal;
    if (refusal === undefined) {
      if (this.breaker.isUp) return 'call';
      const now = clock.now();
      // A node down for want of a connection gets its probe once its client has connected again.
      if (this.#connectionError !== undefined) this.#connectionError = this.#connectionErrorNow(this.#connectionError);
      const connectionError = this.#connectionError;
      const admission = connectionError === undefined ? this.breaker.admit(now) : 'refused';
      if (admission !== 'refused') return admission;
      const calls = this.breaker.timeoutsInARow === 1 ? 'a call' : `${this.breaker.timeoutsInARow} calls`;
      refusal = new NodeError(
        connectionError === undefined
          ? `Node ${this.index} is not answering: ${calls} timed out since its last answer, so it is not called until it answers (next probe in ${Math.ceil(this.breaker.probeInMs(now))} ms)`
          : `Node ${this.index} is not connected (${describeCause(connectionError)}), so it is not called until its client connects again`,
        { nodeIndex: this.index, isTimeout: false, cause: connectionError, isDown: true },
      );
    }
    return this.#recorded(operation, { nodeIndex: this.index, status: 'error', error: refusal });
  }

  /**
   * The node answered a call that started at `startedAtMs`, in time or late; its round trip is measured when
   * `isMeasured` and the latency takes it (the only clock read here).
   */
  callAnswered(clock: Clock, startedAtMs: number, isMeasured: boolean): void {
    this.breaker.recordAnswer();
    if (isMeasured && this.latency.wantsRoundTripOf(startedAtMs)) this.latency.recordAnswer(clock.now() - startedAtMs, startedAtMs);
  }

  /**
   * A call sent when the node had given `answersAtSend` answers (`breaker.answerCount`; the probe, when
   * `wasProbe`) did not answer within `timeoutMs`: returns the timed-out outcome, counted and published as
   * part of `operation`. When the client has no connection now, the call never reached the node: the node is
   * down for want of a connection, and its timeout stays as it is.
   */
  callTimedOut<S extends string>(clock: Clock, answersAtSend: number, timeoutMs: number, operation: NodeOperation, wasProbe: boolean): NodeOutcome<S> {
    const connectionError = this.#connectionErrorNow();
    if (this.breaker.recordTimeout(clock.now(), answersAtSend, wasProbe)) {
      if (connectionError === undefined) this.latency.recordTimeout();
      this.#connectionError = connectionError;
    }
    // If the probe ahead of it is still unanswered, the next call sends another: a probe that never answers
    // (a dropped connection whose client forgot the command) would otherwise hold back every call's answer
    // for ever. A later answer to the old probe is still learnt.
    if (this.#facts instanceof Promise) this.#facts = undefined;
    const notConnected = connectionError === undefined ? '' : `: not connected (${describeCause(connectionError)})`;
    const error = new NodeError(`Node ${this.index} did not answer within ${timeoutMs} ms${notConnected}`, { nodeIndex: this.index, isTimeout: true, cause: connectionError });
    return this.#recorded(operation, { nodeIndex: this.index, status: 'timeout', error });
  }

  /**
   * A call that started at `startedAtMs` was cut where the hold it served would expire, before its own
   * timeout (see `FanOut.endingBy`): returns the timed-out outcome, counted and published as part of
   * `operation`. The node's health learns nothing: it was not given its timeout, and an answer that comes
   * later is still measured.
   */
  callCut<S extends string>(clock: Clock, startedAtMs: number, operation: NodeOperation): NodeOutcome<S> {
    const waitedMs = Math.round(clock.now() - startedAtMs);
    const when = operation === 'release' ? "the hold's keys expired" : "the hold's validity ended";
    const error = new NodeError(`Node ${this.index} had not answered when ${when}, ${waitedMs} ms after the call`, { nodeIndex: this.index, isTimeout: true, cause: undefined });
    return this.#recorded(operation, { nodeIndex: this.index, status: 'timeout', error });
  }

  /**
   * A call sent when the node had given `answersAtSend` answers (the probe, when `wasProbe`) failed with
   * `cause`: usually the node answered, so it counts as up; but when its client has no connection
   * (`RedisAdapter.connectionError`), the call counts as a timeout, and calls are refused until the client
   * has connected again and a probe is answered. Returns the failed outcome, counted and published as part
   * of `operation`.
   */
  callFailed<S extends string>(clock: Clock, cause: unknown, operation: NodeOperation, answersAtSend: number, wasProbe: boolean): NodeOutcome<S> {
    const connectionError = this.#connectionErrorNow(cause);
    if (connectionError === undefined) this.breaker.recordAnswer();
    else if (this.breaker.recordTimeout(clock.now(), answersAtSend, wasProbe)) this.#connectionError = connectionError;
    const message = connectionError === undefined ? `Node ${this.index} failed: ${describeCause(cause)}` : `Node ${this.index} is not connected: ${describeCause(connectionError)}`;
    const error = new NodeError(message, { nodeIndex: this.index, isTimeout: false, cause: connectionError ?? cause });
    return this.#recorded(operation, { nodeIndex: this.index, status: 'error', error });
  }

  /** Why the node's client has no connection now, as its adapter tells, given what a call rejected with if one did. */
  #connectionErrorNow(rejection?: unknown): unknown {
    const { adapter } = this;
    if (adapter.connectionError === undefined) return undefined;
    try {
      return adapter.connectionError(rejection) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** Counts an outcome without an answer for `redlock.stats()` and publishes it on `redlock-core.node.error`. */
  #recorded(operation: NodeOperation, outcome: FailedOutcome): FailedOutcome {
    this.callCounters.count(outcome.error);
    publishNodeError(operation, outcome);
    return outcome;
  }

  /**
   * At first contact, sends the probe script, right before the call it checks so that it costs no round
   * trip of its own; resolves with why the node must not be used, or `undefined` if it may (also when the
   * probe failed: it goes again with the next call). `undefined` at once when the server is known. Never rejects.
   */
  checkServer(): Promise<Error | undefined> | undefined {
    const facts = this.#facts;
    if (facts !== undefined && !(facts instanceof Promise)) return undefined;
    if (facts === undefined) {
      const probe: Promise<void> = runScript(this.adapter, probeScript, [], [])
        .then((reply) => this.#learn(parseProbeReply(reply)))
        .catch((error: unknown) => {
          if (this.#facts !== probe) return;
          this.#facts = undefined;
          this.#probeError = error;
          this.#runsScripts = isRefusedByServer(error) && !isNoPermissionError(error);
        });
      this.#facts = probe;
    }
    return (this.#facts as Promise<void>).then(() => this.#problem() ?? this.#unchecked());
  }

  /**
   * Whether the node is known to run the core's scripts for the connection's user: the probe (a script)
   * told which server this is, or was refused for good for another reason than `NOPERM` (see
   * {@link noteAnswered}). Until then a lock is not taken by a plain SET, which runs no script: a user that
   * may not run scripts (its ACL denies EVAL) would win a lock that it could never release or extend.
   */
  get isKnownToRunScripts(): boolean {
    return this.#runsScripts;
  }

  /**
   * Why a call's answer must not count although no problem is known: the probe ahead of it failed on the
   * way, so the server may be another node's counted twice; or the user may not run scripts (`NOPERM` to
   * the probe's EVAL or EVALSHA, which touches no key or channel: the node's own reply), so no lock, permit
   * or read-write lock can be released or extended there. One that refused the probe otherwise is used
   * unchecked ({@link noteAnswered}).
   */
  #unchecked(): Error | undefined {
    const cause = this.#probeError;
    if (this.#facts !== undefined || cause === undefined) return undefined;
    if (isNoPermissionError(cause)) return cause instanceof Error ? cause : new Error(errorMessageOf(cause), { cause });
    if (isRefusedByServer(cause)) return undefined;
    return new Error(`its server could not be checked at first contact (${describeCause(cause)}), so its vote cannot count yet`);
  }

  /**
   * A call answered although the probe ahead of it failed: the server refuses the probe (INFO may be
   * disabled there), so it cannot be identified. It is used without the check from then on, with a warning.
   */
  noteAnswered(): void {
    const cause = this.#probeError;
    if (this.#facts !== undefined || !isRefusedByServer(cause) || isNoPermissionError(cause)) return;
    this.#facts = 'unverifiable';
    warnOnce(
      this.adapter,
      'REDLOCK_UNVERIFIED_NODE',
      `Node ${this.index} could not tell which server it is (${cause instanceof Error ? cause.message : String(cause)}), so the Redlock cannot check that no other node is the same server`,
    );
  }

  /** A snapshot of this node's health at `now`. */
  healthAt(now: number): NodeHealth {
    const facts = this.#facts;
    return {
      nodeIndex: this.index,
      state: this.#refusal !== undefined ? 'refused' : this.breaker.isUp ? 'up' : 'down',
      timeoutsInARow: this.breaker.timeoutsInARow,
      probeInMs: this.breaker.probeInMs(now),
      maxmemoryPolicy: typeof facts === 'object' && !(facts instanceof Promise) ? facts.maxmemoryPolicy : undefined,
      rttMs: this.latency.smoothedRttMs,
      rttDeviationMs: this.latency.rttDeviationMs,
    };
  }

  #learn(facts: ServerFacts): void {
    this.#facts = facts;
    this.#probeError = undefined;
    this.#runsScripts = true;
    // A duplicate server fails every operation already (see `throwIfMisconfigured`).
    if (this.#servers.claim(this.index, facts.runId) !== undefined || !isEvictingPolicy(facts.maxmemoryPolicy)) return;
    const risk = `Node ${this.index} runs with maxmemory-policy ${facts.maxmemoryPolicy}, which deletes keys with a TTL under memory pressure, lock keys among them: give lock nodes \`noeviction\` or an instance of their own`;
    if (!this.#servers.refuseEvictingNodes) return warnOnce(this.adapter, 'REDLOCK_EVICTING_NODE', risk);
    const cause = new NodeConfigurationError(risk, { nodeIndexes: [this.index], problem: 'evicting-policy' });
    this.#refusal = new NodeError(`${risk} (refused: \`refuseEvictingNodes\` is on)`, { nodeIndex: this.index, isTimeout: false, cause });
  }

  /** Why what the probe told makes this node unusable, if it does. */
  #problem(): Error | undefined {
    const { configurationError } = this.#servers;
    if (configurationError?.nodeIndexes.includes(this.index)) return configurationError;
    return this.#refusal?.cause as Error | undefined;
  }
}

/**
 * Error replies by which a server says "not now" rather than "never": a script running (`BUSY`), a dataset
 * loading (`LOADING`), a replica cut off from its master (`MASTERDOWN`), a cluster or a key in motion.
 */
const PASSING_REFUSAL = /^(?:BUSY|LOADING|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS) /;

/**
 * Whether a probe failed because the server refused it for good (an error reply such as `ERR unknown
 * command`, or a reply the probe cannot parse), not for a reason that may pass (a dropped connection, a
 * {@link PASSING_REFUSAL}): only then is the node used without the check, for good; but `NOPERM` fails
 * the node's calls instead (see `#unchecked`).
 */
function isRefusedByServer(error: unknown): boolean {
  if (error instanceof TypeError) return true;
  return error instanceof Error && /^[A-Z]{2,} /.test(error.message) && !PASSING_REFUSAL.test(error.message);
}

/** Describes whatever an adapter rejected with; never throws, even for objects without a prototype. */
function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  try {
    return String(cause);
  } catch {
    return Object.prototype.toString.call(cause);
  }
}
