// How fair the lock is across processes (issue 78, "a fair lock on a quorum"; not part of `pnpm bench`; run
// after a build and `tsc -p bench`):
// `node bench/scripts/fair-queue.mjs [--processes=8] [--count=100 | --duration-s=N] [--hold-ms=1] [--skew] [--pause-node]
//  [--kill-waiter] [--fair | --floor] [--beside-floor] [--rounds=1] [--timeout-s=120] [--json]`
//  (`--timeout-s` bounds each round from 'go', start-up aside: 60 s).
// 5 local nodes; `--processes` child processes of this script, each a `Redlock` at the defaults over ioredis
// clients of its own, start together and loop `--count` times: acquire `fair-queue-bench:<round>` (TTL 10 s),
// hold `--hold-ms` (a `setTimeout`, not a busy wait), release. A rejected acquire is a give-up and the loop goes on.
// `--duration-s`: each process loops until that long after 'go' instead (its last call ends after it), so the
// shares cover the whole run, not a window that ends when the first process reached its count (streaks).
// Every event is stamped with `performance.timeOrigin + performance.now()`, one clock for every process here.
// A call *queued* at the end of its first attempt that reports a `queuePlace` (its place in the nodes' wait
// queues); while the library reports none, at the end of its first failed attempt (`redlock-core.attempt`);
// the summary says which. A call granted at its first attempt never queued. A grant to B *overtook* A when A,
// another live process, queued its current call before B's call started and that call was neither granted nor
// ended at the grant. Per round it prints: grants and give-ups (per process); each process's share of the holds
// while all of them still looped (until the first one finished: every loop ends at `--count`) against the mean,
// and when each finished; the grants that overtook, and the most earlier waiters one grant overtook; the grants
// back to the process that had just released (re-takes); waits (call to grant) p50/p99/max, and the max of the calls
// that started 0.5 s after 'go' or later (past the start, and a paused node's first timeouts); the hand-off (a
// release's start to the next grant) p50/p99; and the bound 1.5 × processes × (hold + median hand-off) against
// the max wait, the hold measured (grant to release's start).
// `--skew`: process 0's `Date.now` runs 5 s ahead, process 1's 5 s behind (the library's wall clock; the
// bench's stamps do not use it). `--pause-node`: node 4 stopped (SIGSTOP) from 'go' to the round's end.
// `--kill-waiter` (with `--count`): after a third of the grants, the process that has waited longest is SIGKILLed; it prints how
// long the next grant took and the others' max wait across the kill. `--fair`: acquires with `{ fair: true }`
// (exits 2 while the library has no such option). `--floor`: no library, the fastest first-come-first-served
// lock this machine runs, for the bound's sake: one token in a list on node 0, taken by `BLPOP` (Redis serves
// blocked clients in the order they blocked) and given back by `LPUSH`, one round trip per hand-off and no quorum.
// A floor call counts as queued when it sends `BLPOP` (stamped just before): two calls microseconds apart may
// reach the node in the other order and show as an overtake (1 of 3,200 grants in 4 rounds). `--beside-floor`
// (not with `--floor` or `--kill-waiter`): each round runs the floor first, on the same nodes, and prints the
// round's max wait, p99 wait and median hand-off against the floor's: a bound that the machine itself meets.
// `--json`: the summaries as one JSON document instead.
import { fork } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

/** The wall clock of the machine in milliseconds, read monotonically: the same in every process, whatever `Date.now` says. */
const TIME_ORIGIN = performance.timeOrigin;
const now = () => TIME_ORIGIN + performance.now();

const RESOURCE = 'fair-queue-bench';
const TTL_MS = 10_000;
const NODE_COUNT = 5;
const PAUSED_NODE = 4;
const SKEW_MS = 5_000;
/** How long the processes may take to connect and warm up before 'go', in milliseconds. */
const STARTUP_TIMEOUT_MS = 60_000;

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '8' },
    count: { type: 'string', default: '100' },
    'duration-s': { type: 'string' },
    'hold-ms': { type: 'string', default: '1' },
    skew: { type: 'boolean', default: false },
    'pause-node': { type: 'boolean', default: false },
    'kill-waiter': { type: 'boolean', default: false },
    fair: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    'beside-floor': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    'timeout-s': { type: 'string', default: '120' },
    json: { type: 'boolean', default: false },
    // A child's own: which process it is, its nodes, its resource and its skew.
    child: { type: 'string' },
    urls: { type: 'string' },
    resource: { type: 'string' },
    'skew-ms': { type: 'string', default: '0' },
  },
});
const processes = Number(values.processes);
const durationMs = values['duration-s'] === undefined ? undefined : Number(values['duration-s']) * 1_000;
const count = durationMs === undefined ? Number(values.count) : Infinity;
const holdMs = Number(values['hold-ms']);
const fair = values.fair;
const floor = values.floor;
if (fair && floor) throw new TypeError('--fair and --floor exclude each other: --floor runs no library');
const besideFloor = values['beside-floor'];
if (besideFloor && (floor || values['kill-waiter'])) throw new TypeError('--beside-floor goes with the library\'s rounds, without --floor or --kill-waiter');

if (values.child !== undefined) await child(Number(values.child));
else process.exitCode = await parent();

/**
 * One process of the run: connects, tells its parent 'ready', waits for 'go', then loops and sends its parent
 * every event as it happens (`call`, `queued`, `granted`, `releasing`, `released`, `gave-up`), then `done`.
 */
async function child(index) {
  // Before the library loads: it reads the wall clock through `Date.now` alone.
  const skewMs = Number(values['skew-ms']);
  if (skewMs !== 0) {
    const realNow = Date.now;
    Date.now = () => realNow() + skewMs;
  }
  // A parent that went away takes its children with it.
  process.on('disconnect', () => process.exit(1));
  const { Redlock, LockAcquireError } = await import('redlock-core');
  const { IoredisAdapter } = await import('redlock-ioredis-adapter');
  const { connectClients } = await import('../dist/bench-nodes.js');
  const send = (message) => process.send({ index, ...message });
  /** Sends a last message, then exits: `process.exit` would not wait for it. */
  const sendAndExit = (message, code) => process.send({ index, ...message }, () => process.exit(code));

  /** The current call: its attempts are traced in its async context, and a process makes one call at a time. */
  let call;
  diagnosticsChannel.tracingChannel('redlock-core.attempt').subscribe({
    start() {},
    end() {},
    asyncStart() {},
    error() {},
    asyncEnd(context) {
      if (call === undefined || call.isGranted) return;
      const result = context.result;
      if (result === undefined) return;
      const at = now();
      if (result.queuePlace !== undefined && call.queuedAtPlace === undefined) {
        call.queuedAtPlace = at;
        send({ type: 'queued', by: 'queuePlace', at, queuePlace: result.queuePlace });
      }
      if (result.outcome !== 'acquired' && call.queuedAtFailure === undefined) {
        call.queuedAtFailure = at;
        send({ type: 'queued', by: 'failure', at });
      }
    },
  });

  const clients = await connectClients(JSON.parse(values.urls));
  // The floor's BLPOP blocks its connection: a second one to node 0 for it.
  if (floor) return floorLoop(index, clients, (await connectClients(JSON.parse(values.urls).slice(0, 1)))[0], send, sendAndExit);
  const redlock = new Redlock(clients.map((client) => new IoredisAdapter(client)));
  // Connections, scripts and the subscriber set up on a key of its own, so no call of the run pays for them:
  // a second call waits for the first's release (a fair call listens from its first attempt, a default one
  // once refused), which opens the subscriber connections (an uncontended acquire opens none).
  const options = fair ? { fair: true } : undefined;
  const warmUpKey = `${values.resource}:warm-up:${index}`;
  const held = await redlock.acquire(warmUpKey, TTL_MS, options);
  const waiting = redlock.acquire(warmUpKey, TTL_MS, options);
  await sleep(20);
  await held.release();
  await (await waiting).release();
  const go = new Promise((resolve) => process.once('message', resolve));
  send({ type: 'ready' });
  const { untilAt } = await go;
  for (let done = 0; untilAt === undefined ? done < count : now() < untilAt; done += 1) {
    call = { isGranted: false };
    send({ type: 'call', at: now() });
    let lock;
    try {
      lock = await redlock.acquire(values.resource, TTL_MS, options);
    } catch (error) {
      if (fair && error instanceof TypeError) {
        sendAndExit({ type: 'no-fair', message: error.message }, 2);
        return;
      }
      if (!(error instanceof LockAcquireError)) throw error;
      send({ type: 'gave-up', at: now(), message: error.message.slice(0, 200) });
      continue;
    }
    call.isGranted = true;
    send({ type: 'granted', at: now() });
    await sleep(holdMs);
    send({ type: 'releasing', at: now() });
    await lock.release();
    send({ type: 'released', at: now() });
  }
  call = undefined;
  await redlock.close();
  for (const client of clients) client.disconnect();
  sendAndExit({ type: 'done', at: now() }, 0);
}

/**
 * `--floor`'s loop: the same events as the library's, around `BLPOP` of the token (every call queues at once:
 * it blocks) and its `LPUSH`; process 0 puts the token in at 'go'.
 */
async function floorLoop(index, clients, blocking, send, sendAndExit) {
  const [commands] = clients;
  const tokens = `${values.resource}:floor-token`;
  const go = new Promise((resolve) => process.once('message', resolve));
  send({ type: 'ready' });
  const { untilAt } = await go;
  if (index === 0) await commands.lpush(tokens, 'token');
  for (let done = 0; untilAt === undefined ? done < count : now() < untilAt; done += 1) {
    const at = now();
    send({ type: 'call', at });
    send({ type: 'queued', by: 'queuePlace', at, queuePlace: 0 });
    await blocking.blpop(tokens, 0);
    send({ type: 'granted', at: now() });
    await sleep(holdMs);
    send({ type: 'releasing', at: now() });
    await commands.lpush(tokens, 'token');
    send({ type: 'released', at: now() });
  }
  blocking.disconnect();
  for (const client of clients) client.disconnect();
  sendAndExit({ type: 'done', at: now() }, 0);
}

/** Starts the nodes, runs the rounds, prints their summaries; resolves with the exit code. */
async function parent() {
  const { startRedisNodes } = await import('local-redis-nodes');
  const nodes = await startRedisNodes({ count: NODE_COUNT });
  const summaries = [];
  let code = 0;
  try {
    const conditions = [
      values.skew && `process 0 ${SKEW_MS / 1000} s ahead, process 1 ${SKEW_MS / 1000} s behind`,
      values['pause-node'] && `node ${PAUSED_NODE} paused (SIGSTOP)`,
      values['kill-waiter'] && 'the longest waiter killed (SIGKILL) after a third of the grants',
    ].filter(Boolean);
    const options = floor ? ' (--floor: no library, one token by BLPOP/LPUSH on node 0)' : fair ? ' with { fair: true }' : '';
    if (!values.json) {
      console.log(`${processes} processes × ${durationMs === undefined ? `${count} acquisitions` : `${durationMs / 1_000} s of acquisitions`} of one lock, ${holdMs} ms holds (setTimeout), the defaults${options}, ${NODE_COUNT} nodes${conditions.map((each) => `; ${each}`).join('')}`);
    }
    for (let round = 1; round <= Number(values.rounds); round += 1) {
      let floorSummary;
      if (besideFloor) {
        const floorRun = await runRound(nodes, `${RESOURCE}:${round}:floor`, true);
        if (floorRun.goAt === undefined || floorRun.timedOut) {
          console.log(`round ${round}: the floor's round timed out`);
          return 1;
        }
        floorSummary = summarize(floorRun);
      }
      const run = await runRound(nodes, `${RESOURCE}:${round}`);
      if (run.noFair !== undefined) {
        console.log(`the library has no fair option yet (${run.noFair})`);
        return 2;
      }
      if (run.goAt === undefined) {
        console.log(`round ${round}: timed out after ${run.timeoutMs / 1_000} s before every process was ready`);
        return 1;
      }
      const summary = { round, ...summarize(run), ...(floorSummary === undefined ? {} : { floor: againstFloor(summarize(run), floorSummary) }) };
      summaries.push(summary);
      if (!values.json) printSummary(summary);
      if (run.timedOut) {
        code = 1;
        break;
      }
    }
    if (values.json) console.log(JSON.stringify({ processes, count: durationMs === undefined ? count : undefined, durationMs, holdMs, fair, floor, besideFloor, skew: values.skew, pauseNode: values['pause-node'], killWaiter: values["kill-waiter"], rounds: summaries }));
    return code;
  } finally {
    await nodes.stop();
  }
}

/**
 * One round: forks the processes, starts them together, pauses a node or kills a waiter if asked, and
 * resolves with every process's calls once all ended (or the timeout killed them).
 */
async function runRound(nodes, resource, isFloorRound = floor) {
  const script = fileURLToPath(import.meta.url);
  const passed = [`--count=${values.count}`, `--hold-ms=${holdMs}`, ...(isFloorRound ? ['--floor'] : fair ? ['--fair'] : [])];
  const states = [];
  let grants = 0;
  let noFair;
  const killAfter = values['kill-waiter'] ? Math.floor((processes * count) / 3) : Infinity;
  /** What `--kill-waiter` did: whom, when, and whether that process had in fact just been granted. */
  let kill;
  const children = [];
  for (let index = 0; index < processes; index += 1) {
    const skewMs = values.skew && index < 2 ? (index === 0 ? SKEW_MS : -SKEW_MS) : 0;
    const args = [`--child=${index}`, `--urls=${JSON.stringify(nodes.urls)}`, `--resource=${resource}`, `--skew-ms=${skewMs}`, ...passed];
    const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const state = { index, skewMs, calls: [], current: undefined, ready: false, exited: false, killedAt: undefined, finishedAt: undefined, child };
    states.push(state);
    children.push(child);
  }
  const allReady = Promise.all(
    states.map(
      (state) =>
        new Promise((resolve, reject) => {
          state.child.on('message', (message) => {
            if (message.type === 'ready') return resolve();
            onEvent(state, message);
          });
          state.child.once('exit', (code, signal) => {
            state.exited = true;
            if (!state.ready) reject(new Error(`process ${state.index} exited (${code ?? signal}) before it was ready`));
          });
        }).then(() => {
          state.ready = true;
        }),
    ),
  );
  const exits = Promise.all(states.map((state) => (state.exited ? undefined : new Promise((resolve) => state.child.once('exit', resolve)))));

  /** Records one event of a process's calls; a killed process's later events are ignored, but a grant is noted. */
  function onEvent(state, message) {
    if (message.type === 'no-fair') noFair ??= message.message;
    if (state.killedAt !== undefined) {
      if (message.type === 'granted' && kill !== undefined) kill.grantedAfterKill = true;
      return;
    }
    const { current } = state;
    switch (message.type) {
      case 'call':
        state.current = { callStart: message.at };
        state.calls.push(state.current);
        break;
      case 'queued':
        if (message.by === 'queuePlace') {
          current.queuedAtPlace = message.at;
          current.queuePlace = message.queuePlace;
        } else current.queuedAtFailure = message.at;
        break;
      case 'granted':
        current.grantedAt = message.at;
        grants += 1;
        if (grants >= killAfter && kill === undefined) killLongestWaiter();
        break;
      case 'releasing':
        current.releaseStart = message.at;
        break;
      case 'released':
        current.releasedAt = message.at;
        state.current = undefined;
        break;
      case 'gave-up':
        current.gaveUpAt = message.at;
        current.giveUpMessage = message.message;
        state.current = undefined;
        break;
      case 'done':
        state.finishedAt = message.at;
        break;
    }
  }
  /** `--kill-waiter`: SIGKILLs the live process whose current call started first and is not granted yet. */
  function killLongestWaiter() {
    const waiting = states.filter((state) => state.killedAt === undefined && !state.exited && state.current !== undefined && state.current.grantedAt === undefined);
    if (waiting.length === 0) return;
    const longest = waiting.reduce((a, b) => (b.current.callStart < a.current.callStart ? b : a));
    longest.child.kill('SIGKILL');
    longest.killedAt = now();
    kill = { index: longest.index, at: longest.killedAt, waitedMs: longest.killedAt - longest.current.callStart, grantsBefore: grants, grantedAfterKill: false };
  }

  // Bounded twice: the start-up (connections, a warm-up lock each) and the run from 'go'.
  const timeoutMs = Number(values['timeout-s']) * 1_000;
  let timedOut = false;
  const onTimeout = () => {
    timedOut = true;
    for (const state of states) if (!state.exited) state.child.kill('SIGKILL');
  };
  let timer = setTimeout(onTimeout, STARTUP_TIMEOUT_MS);
  let goAt;
  try {
    try {
      await allReady;
    } catch (error) {
      if (!timedOut) throw error;
      return { states, goAt: undefined, kill, timedOut, noFair, timeoutMs: STARTUP_TIMEOUT_MS };
    }
    clearTimeout(timer);
    timer = setTimeout(onTimeout, timeoutMs);
    goAt = now();
    for (const child of children) child.send({ type: 'go', untilAt: durationMs === undefined ? undefined : goAt + durationMs });
    if (values['pause-node']) nodes.nodes[PAUSED_NODE].pause();
    await exits;
  } finally {
    clearTimeout(timer);
    for (const state of states) if (!state.exited) state.child.kill('SIGKILL');
    if (values['pause-node']) nodes.nodes[PAUSED_NODE].resume();
  }
  // The process killed by `--kill-waiter`: its last call ends at the kill.
  for (const state of states) if (state.killedAt !== undefined && state.current !== undefined) state.current.killedAt = state.killedAt;
  return { states, goAt, kill, timedOut, noFair, timeoutMs };
}

/** The figures of one round (see the header), from every process's calls. */
function summarize({ states, goAt, kill, timedOut }) {
  const queuedByPlace = states.some((state) => state.calls.some((call) => call.queuedAtPlace !== undefined));
  const queuedDefinition = queuedByPlace ? 'end of the first attempt that reported a queuePlace' : "end of the call's first failed attempt (the library reports no queuePlace)";
  for (const state of states) {
    for (const call of state.calls) {
      call.queuedAt = queuedByPlace ? call.queuedAtPlace : call.queuedAtFailure;
      call.endAt = call.grantedAt ?? call.gaveUpAt ?? call.killedAt ?? Infinity;
    }
  }
  const grantsOf = states.map((state) => state.calls.filter((call) => call.grantedAt !== undefined));
  const allGrants = states.flatMap((state, index) => grantsOf[index].map((call) => ({ index: state.index, call }))).sort((a, b) => a.call.grantedAt - b.call.grantedAt);
  const giveUps = states.map((state) => state.calls.filter((call) => call.gaveUpAt !== undefined).length);

  // Shares while every process still looped: until the first one finished its loop (a killed one aside).
  const finishes = states.filter((state) => state.finishedAt !== undefined).map((state) => state.finishedAt);
  const windowEnd = finishes.length > 0 ? Math.min(...finishes) : Infinity;
  const live = states.filter((state) => state.killedAt === undefined);
  const shares = states.map((state, index) => grantsOf[index].filter((call) => call.grantedAt <= windowEnd).length);
  const liveShares = live.map((state) => shares[state.index]);
  const meanShare = liveShares.reduce((a, b) => a + b, 0) / Math.max(1, liveShares.length);

  // Overtakes: per grant, the other live processes whose current call queued before this call started.
  let overtakingGrants = 0;
  let worstOvertaken = 0;
  const overtakenOf = states.map(() => 0);
  const overtakesBy = states.map(() => 0);
  for (const { index, call } of allGrants) {
    const g = call.grantedAt;
    let overtaken = 0;
    for (const other of states) {
      if (other.index === index) continue;
      if (other.killedAt !== undefined && other.killedAt <= g) continue;
      const pending = other.calls.find((each) => each.callStart <= g && each.endAt > g);
      if (pending?.queuedAt === undefined || !(pending.queuedAt < call.callStart)) continue;
      overtaken += 1;
      overtakenOf[other.index] += 1;
    }
    if (overtaken > 0) {
      overtakingGrants += 1;
      overtakesBy[index] += 1;
    }
    worstOvertaken = Math.max(worstOvertaken, overtaken);
  }

  // Grants to the process that held the lock just before: it let go and took it back.
  const retakes = allGrants.filter((grant, at) => at > 0 && allGrants[at - 1].index === grant.index).length;
  const waits = allGrants.map(({ call }) => call.grantedAt - call.callStart).sort((a, b) => a - b);
  const settledWaits = allGrants.filter(({ call }) => call.callStart >= goAt + 500).map(({ call }) => call.grantedAt - call.callStart);
  const holds = allGrants.filter(({ call }) => call.releaseStart !== undefined).map(({ call }) => call.releaseStart - call.grantedAt).sort((a, b) => a - b);
  // Hand-off: from a release's start to the next grant after it, by anyone.
  const grantTimes = allGrants.map(({ call }) => call.grantedAt);
  const handOffs = [];
  for (const { call } of allGrants) {
    if (call.releaseStart === undefined) continue;
    const next = grantTimes.find((at) => at > call.releaseStart);
    if (next !== undefined) handOffs.push(next - call.releaseStart);
  }
  handOffs.sort((a, b) => a - b);
  const bound = 1.5 * processes * (quantile(holds, 0.5) + quantile(handOffs, 0.5));
  const maxWait = waits.at(-1) ?? 0;

  let killReport;
  if (kill !== undefined) {
    const next = grantTimes.find((at) => at > kill.at);
    // The others' calls that waited across the kill, and those that started within 1 s after it.
    const across = live.flatMap((state) => state.calls.filter((call) => call.callStart <= kill.at && call.endAt > kill.at));
    const after = live.flatMap((state) => state.calls.filter((call) => call.callStart > kill.at && call.callStart <= kill.at + 1_000));
    const maxWaitOf = (calls) => Math.max(0, ...calls.filter((call) => call.grantedAt !== undefined).map((call) => call.grantedAt - call.callStart));
    killReport = {
      process: kill.index,
      afterGrants: kill.grantsBefore,
      atMs: round1(kill.at - goAt),
      itsWaitMs: round1(kill.waitedMs),
      diedHolding: kill.grantedAfterKill,
      nextGrantAfterMs: next === undefined ? undefined : round1(next - kill.at),
      maxWaitAcrossKillMs: round1(maxWaitOf(across)),
      maxWaitWithin1sAfterMs: round1(maxWaitOf(after)),
      giveUpsAcrossKill: across.filter((call) => call.gaveUpAt !== undefined).length,
    };
  }
  return {
    timedOut,
    queuedDefinition,
    grants: allGrants.length,
    calls: states.reduce((sum, state) => sum + state.calls.length, 0),
    giveUps: giveUps.reduce((a, b) => a + b, 0),
    giveUpsPerProcess: giveUps,
    giveUpMessage: states.flatMap((state) => state.calls).find((call) => call.giveUpMessage !== undefined)?.giveUpMessage,
    share: {
      windowMs: round1((Number.isFinite(windowEnd) ? windowEnd : now()) - goAt),
      perProcess: shares,
      mean: round1(meanShare),
      maxToMean: round2(Math.max(...liveShares) / meanShare),
      minToMean: round2(Math.min(...liveShares) / meanShare),
    },
    finishedAtMs: states.map((state) => (state.finishedAt === undefined ? null : Math.round(state.finishedAt - goAt))),
    overtakes: { grantsThatOvertook: overtakingGrants, ofGrants: allGrants.length, worstPerGrant: worstOvertaken, byProcess: overtakesBy, overtakenProcess: overtakenOf },
    retakes,
    waitMs: { p50: round1(quantile(waits, 0.5)), p99: round1(quantile(waits, 0.99)), max: round1(maxWait), maxFromHalfSecond: round1(Math.max(0, ...settledWaits)), maxPerProcess: grantsOf.map((calls) => round1(Math.max(0, ...calls.map((call) => call.grantedAt - call.callStart)))) },
    holdMs: { p50: round2(quantile(holds, 0.5)) },
    handOffMs: { p50: round2(quantile(handOffs, 0.5)), p99: round1(quantile(handOffs, 0.99)) },
    bound: { ms: round1(bound), maxWaitToBound: round2(maxWait / bound), maxFromHalfSecondToBound: round2(Math.max(0, ...settledWaits) / bound), waitsOverBound: waits.filter((wait) => wait > bound).length },
    ...(killReport === undefined ? {} : { kill: killReport }),
  };
}

/** A round's waits and hand-off against the floor's round just before it (`--beside-floor`). */
function againstFloor(s, f) {
  return {
    maxWaitMs: f.waitMs.max,
    p99WaitMs: f.waitMs.p99,
    handOffP50Ms: f.handOffMs.p50,
    overtakes: f.overtakes.grantsThatOvertook,
    maxWaitToFloor: round2(s.waitMs.max / f.waitMs.max),
    p99WaitToFloor: round2(s.waitMs.p99 / f.waitMs.p99),
    handOffToFloor: round2(s.handOffMs.p50 / f.handOffMs.p50),
    floorMaxWaitToItsBound: f.bound.maxWaitToBound,
  };
}

/** Prints one round's summary as lines. */
function printSummary(s) {
  console.log(`round ${s.round}${s.timedOut ? ' (TIMED OUT: processes killed)' : ''}: ${s.grants} grants of ${s.calls} calls, ${s.giveUps} give-ups [${s.giveUpsPerProcess.join(' ')}]${s.giveUpMessage === undefined ? '' : ` ("${s.giveUpMessage}")`}`);
  console.log(`  holds while all looped (${s.share.windowMs} ms): [${s.share.perProcess.join(' ')}], mean ${s.share.mean}, max ${s.share.maxToMean}× / min ${s.share.minToMean}× the mean; finished at [${s.finishedAtMs.map((at) => at ?? '-').join(' ')}] ms`);
  const o = s.overtakes;
  console.log(`  ${o.grantsThatOvertook} of ${o.ofGrants} grants overtook an earlier waiter, at most ${o.worstPerGrant} at once; overtaking grants by process [${o.byProcess.join(' ')}], times overtaken [${o.overtakenProcess.join(' ')}]; ${s.retakes} grants went back to the process that held it just before`);
  console.log(`  wait ms p50 ${s.waitMs.p50} p99 ${s.waitMs.p99} max ${s.waitMs.max} (per process max [${s.waitMs.maxPerProcess.join(' ')}]; calls from 0.5 s on: max ${s.waitMs.maxFromHalfSecond}); hold p50 ${s.holdMs.p50} ms; hand-off p50 ${s.handOffMs.p50} p99 ${s.handOffMs.p99} ms`);
  console.log(`  bound 1.5 × ${processes} × (hold + hand-off) = ${s.bound.ms} ms: max wait ${s.bound.maxWaitToBound}× the bound (from 0.5 s on: ${s.bound.maxFromHalfSecondToBound}×), ${s.bound.waitsOverBound} waits over it`);
  if (s.kill !== undefined) {
    const k = s.kill;
    console.log(
      `  killed process ${k.process} after ${k.afterGrants} grants (${k.atMs} ms in), waiting ${k.itsWaitMs} ms${k.diedHolding ? ', BUT it had just been granted: it died holding the lock' : ''}; ` +
        `next grant ${k.nextGrantAfterMs ?? 'never'} ms after; others' max wait across the kill ${k.maxWaitAcrossKillMs} ms, within 1 s after ${k.maxWaitWithin1sAfterMs} ms, give-ups across it ${k.giveUpsAcrossKill}`,
    );
  }
  if (s.floor !== undefined) {
    const f = s.floor;
    console.log(
      `  beside the floor's round just before: max wait ${s.waitMs.max} against ${f.maxWaitMs} ms (${f.maxWaitToFloor}×), p99 ${s.waitMs.p99} against ${f.p99WaitMs} ms (${f.p99WaitToFloor}×), ` +
        `hand-off p50 ${s.handOffMs.p50} against ${f.handOffP50Ms} ms (${f.handOffToFloor}×); the floor's max wait ${f.floorMaxWaitToItsBound}× its own bound, ${f.overtakes} overtakes`,
    );
  }
  console.log(`  queued: ${s.queuedDefinition}`);
}

/** The `share` quantile of ascending `sorted` (nearest rank); 0 for none. */
function quantile(sorted, share) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))];
}
function round1(value) {
  return Math.round(value * 10) / 10;
}
function round2(value) {
  return Math.round(value * 100) / 100;
}
