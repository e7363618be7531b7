import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from '@jest/globals';
import { DIAGNOSTICS_CHANNELS, type ElectionMessage, type Leader, LockExtendError, LockInspectError, LockLimitError, LockLostError, LockReleaseError, Redlock, RedlockClosedError, SYSTEM_CLOCK } from '../../src/index.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';

// Real time on in-memory nodes: an election's timers (observe's polls) are its own, and every wait here is
// a few milliseconds. The take-over and hand-over times are measured on real nodes (bench/RESULTS.md).
// Elections of 300 ms expire within a test: such short TTLs are meant, so `shortTtlMs` is lowered to take them.
const redlocks: Redlock[] = [];
afterEach(async () => {
  await Promise.all(redlocks.splice(0).map((redlock) => redlock.close()));
});

function setup(nodeCount = 3): { nodes: ReturnType<typeof grantingNodes>; redlock: () => Redlock } {
  const nodes = grantingNodes(SYSTEM_CLOCK, nodeCount);
  // Each "process" is a Redlock of its own over the same nodes.
  const redlock = (): Redlock => {
    const made = new Redlock(nodes, { retryDelayMs: 5, retryJitterMs: 0, shortTtlMs: 100 });
    redlocks.push(made);
    return made;
  };
  return { nodes, redlock };
}

describe('redlock.election()', () => {
  it('makes one leader at a time, who is known everywhere, and hands over on resign() with a greater term', async () => {
    const { redlock } = setup();
    const [a, b] = [redlock().election('scheduler'), redlock().election('scheduler')];
    expect(await a.leader()).toBeUndefined();
    const first = await a.campaign('host-a');
    expect(first.isLeading).toBe(true);
    expect(await b.leader()).toEqual({ value: 'host-a', term: first.term });
    let isSecondLeading = false;
    const campaigning = b.campaign('host-b').then((leadership) => {
      isSecondLeading = true;
      return leadership;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(isSecondLeading).toBe(false);
    await first.resign();
    expect(first.isLeading).toBe(false);
    const second = await campaigning;
    expect(second.term).toBeGreaterThan(first.term);
    expect(await a.leader()).toEqual({ value: 'host-b', term: second.term });
    await second.proclaim('host-b:8080');
    expect(await a.leader()).toEqual({ value: 'host-b:8080', term: second.term });
    expect(second.value).toBe('host-b:8080');
    await second.resign();
    expect(await a.leader()).toBeUndefined();
  });

  it('campaigns on when the nodes could not take the value of a lock it won, and leads with a later term', async () => {
    const { nodes, redlock } = setup();
    const election = redlock().election('scheduler');
    // The first label write fails on 2 of 3 nodes: no quorum took the value.
    nodes[0]!.failNext('extend');
    nodes[1]!.failNext('extend');
    const leadership = await election.campaign('host-a');
    expect(leadership.term).toBe(2);
    expect(await election.leader()).toEqual({ value: 'host-a', term: 2 });
    await leadership.resign();
  });

  it('sends the release again when resign() is called after one that a quorum did not confirm', async () => {
    const { nodes, redlock } = setup();
    const leadership = await redlock().election('scheduler').campaign('host-a');
    nodes[1]!.isDown = true;
    nodes[2]!.isDown = true;
    await expect(leadership.resign()).rejects.toThrow(LockReleaseError);
    expect(leadership.isLeading).toBe(false);
    nodes[1]!.isDown = false;
    nodes[2]!.isDown = false;
    await leadership.resign();
    expect(nodes.map((node) => node.keyspace.typeOf('scheduler'))).toEqual(['none', 'none', 'none']);
  });

  it('keeps publishing the value it leads with after a proclaim() the nodes rejected', async () => {
    const { nodes, redlock } = setup();
    const election = redlock().election('scheduler', { ttlMs: 300 });
    const leadership = await election.campaign('v1');
    // Only node 0 takes v2: no quorum, so proclaim() rejects and the value stays v1.
    nodes[1]!.failNext('extend');
    nodes[2]!.failNext('extend');
    await expect(leadership.proclaim('v2')).rejects.toThrow(LockExtendError);
    expect(leadership.value).toBe('v1');
    // The next automatic extension (half a TTL on) writes v1 back where v2 was taken.
    const extensions = nodes[0]!.calls.filter((call) => call.script === 'extend').length;
    while (nodes[0]!.calls.filter((call) => call.script === 'extend').length === extensions) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(leadership.isLeading).toBe(true);
    expect(await election.leader()).toEqual({ value: 'v1', term: leadership.term });
    expect(nodes.map((node) => node.keyspace.get('{scheduler}:label')?.includes('"value":"v1"'))).toEqual([true, true, true]);
    await leadership.resign();
  });

  it.each([
    ['maxExtensions', LockLimitError],
    ['redlock.close()', RedlockClosedError],
  ] as const)('says it no longer leads from the moment its signal aborts at %s', async (cause, errorClass) => {
    const { redlock } = setup();
    const made = redlock();
    const leadership = await made.election('scheduler', { ttlMs: 300 }).campaign('host-a', cause === 'maxExtensions' ? { maxExtensions: 1 } : {});
    const states: [string, boolean][] = [];
    leadership.signal.addEventListener('abort', () => states.push([leadership.state, leadership.isLeading]), { once: true });
    if (cause === 'redlock.close()') await made.close();
    else await new Promise((resolve) => leadership.signal.addEventListener('abort', resolve, { once: true }));
    expect(leadership.signal.reason).toBeInstanceOf(errorClass);
    // The lock itself still has validity left: only the leadership's signal told.
    expect(leadership.remainingValidityMs).toBeGreaterThan(0);
    expect(states).toEqual([['lost', false]]);
    expect([leadership.state, leadership.isLeading]).toEqual(['lost', false]);
  });

  it('observes each change once, in order of term: nobody, a leader, a new value, nobody, the next leader', async () => {
    const { redlock } = setup();
    const watcher = redlock().election('scheduler', { pollMs: 2 });
    const candidate = redlock().election('scheduler');
    const controller = new AbortController();
    const seen: (Leader | undefined)[] = [];
    const observing = (async () => {
      for await (const leader of watcher.observe({ signal: controller.signal })) seen.push(leader);
    })();
    const until = async (count: number): Promise<void> => {
      while (seen.length < count) await new Promise((resolve) => setTimeout(resolve, 1));
    };
    await until(1);
    const first = await candidate.campaign('host-a');
    await until(2);
    await first.proclaim('host-a2');
    await until(3);
    await first.resign();
    await until(4);
    const second = await candidate.campaign('host-b');
    await until(5);
    controller.abort(new Error('done'));
    await expect(observing).rejects.toThrow('done');
    expect(seen).toEqual([
      undefined,
      { value: 'host-a', term: first.term },
      { value: 'host-a2', term: first.term },
      undefined,
      { value: 'host-b', term: second.term },
    ]);
    await second.resign();
  });

  it('ends an observation with the LockInspectError of its second failed read in a row, a poll after the first, once nobody could lead', async () => {
    const { nodes, redlock } = setup();
    const observation = redlock().election('scheduler', { pollMs: 50 }).observe();
    expect(await observation.next()).toEqual({ value: undefined, done: false });
    for (const node of nodes) node.isDown = true;
    const callsBefore = nodes[0]!.calls.length;
    const startMs = performance.now();
    await expect(observation.next()).rejects.toThrow(LockInspectError);
    // Read at the poll, failed, read again a poll later (not at once: observing again must not spin), failed.
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(2 * 50 - 1);
    expect(nodes[0]!.calls.length - callsBefore).toBeLessThanOrEqual(2);
  });

  it('ends an observation at once when its signal aborts during a read, whatever pollMs says', async () => {
    const { nodes, redlock } = setup();
    for (const node of nodes) node.latencyMs = 20;
    const controller = new AbortController();
    const reason = new Error('stop observing');
    const observation = redlock().election('scheduler', { pollMs: 60_000 }).observe({ signal: controller.signal });
    const first = observation.next();
    controller.abort(reason); // the first read is in flight
    expect(await first).toEqual({ value: undefined, done: false });
    await expect(observation.next()).rejects.toBe(reason);
  }, 5_000);

  it('runs a routine while leading with lead(), resigns at its end, and throws the loss when leadership was lost', async () => {
    const { nodes, redlock } = setup();
    const election = redlock().election('scheduler', { ttlMs: 300 });
    expect(await election.lead('host-a', (signal, leadership) => (signal.aborted ? 'aborted' : `ran in term ${leadership.term}`))).toMatch(/^ran in term \d+$/);
    expect(await election.leader()).toBeUndefined();
    const losing = election.lead('host-a', async (signal) => {
      // Another owner's lock replaces ours on every node: the next extension finds it gone.
      for (const node of nodes) node.keyspace.set('scheduler', 'another-owner', 10_000);
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return 'done';
    });
    await expect(losing).rejects.toThrow(LockLostError);
  });

  it('attaches a loss to what the routine of lead() throws, and throws one the routine returned through unseen', async () => {
    const { nodes, redlock } = setup();
    const election = redlock().election('scheduler', { ttlMs: 300 });
    const failure = new Error('the job failed');
    const failing = election.lead('host-a', async (signal) => {
      for (const node of nodes) node.keyspace.set('scheduler', 'another-owner', 10_000);
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      throw failure;
    });
    await expect(failing).rejects.toBe(failure);
    expect((failure as Error & { lockLostError?: unknown }).lockLostError).toBeInstanceOf(LockLostError);
    for (const node of nodes) node.keyspace.delete('scheduler');
    // A routine that stalls the event loop past the TTL returns before any timer could tell it.
    const stalled = election.lead('host-a', () => {
      const until = performance.now() + 350;
      while (performance.now() < until);
      return 'done';
    });
    await expect(stalled).rejects.toThrow(LockLostError);
  });

  it('publishes a campaign won, a resignation and a loss on their channels, never a token', async () => {
    const { nodes, redlock } = setup();
    const messages: [string, unknown][] = [];
    const names = [DIAGNOSTICS_CHANNELS.electionCampaign, DIAGNOSTICS_CHANNELS.electionResign, DIAGNOSTICS_CHANNELS.electionLoss];
    const listeners = names.map((name) => {
      const listener = (message: unknown): void => void messages.push([name, message]);
      diagnosticsChannel.subscribe(name, listener);
      return () => diagnosticsChannel.unsubscribe(name, listener);
    });
    try {
      const election = redlock().election('scheduler', { ttlMs: 300 });
      const first = await election.campaign('host-a');
      await first.resign();
      const second = await election.campaign('host-b');
      for (const node of nodes) node.keyspace.delete('scheduler');
      await new Promise((resolve) => second.signal.addEventListener('abort', resolve, { once: true }));
      const leader = (term: number, value: string): ElectionMessage => ({ election: 'scheduler', value, term });
      expect(messages).toEqual([
        ['redlock-core.election.campaign', leader(first.term, 'host-a')],
        ['redlock-core.election.resign', leader(first.term, 'host-a')],
        ['redlock-core.election.campaign', leader(second.term, 'host-b')],
        ['redlock-core.election.loss', { ...leader(second.term, 'host-b'), error: expect.any(LockLostError) }],
      ]);
    } finally {
      for (const unsubscribe of listeners) unsubscribe();
    }
  });

  it.each([
    [() => setup().redlock().election(42 as unknown as string), TypeError, 'Expected `name` to be a string, got `42`'],
    [() => setup().redlock().election(''), RangeError, 'Expected every resource to be a non-empty string, got `""`'],
    [() => setup().redlock().election('e', { ttl: 5 } as object), TypeError, 'Unknown option `ttl` in the options of `redlock.election()`'],
    [() => setup().redlock().election('e', { pollMs: 0 }), RangeError, '`pollMs`'],
  ])('refuses a bad election %#', (make, type, message) => {
    expect(make).toThrow(type);
    expect(make).toThrow(message);
  });

  it('refuses a bad value, option or routine before any node call', async () => {
    const { nodes, redlock } = setup();
    const election = redlock().election('scheduler');
    await expect(election.campaign(7 as unknown as string)).rejects.toThrow('Expected `value` to be a string, got `7`');
    await expect(election.campaign('x'.repeat(1_000))).rejects.toThrow(RangeError);
    await expect(election.campaign('host', { pollMs: 5 } as object)).rejects.toThrow('Unknown option `pollMs`');
    await expect(election.campaign('host', { waitMs: 0 })).rejects.toThrow(RangeError);
    await expect(election.campaign('host', { retryCount: -1 })).rejects.toThrow(RangeError);
    await expect(election.lead('host', 'routine' as never)).rejects.toThrow('Expected `routine` to be a function, got `string`');
    await expect(election.observe({ signal: 'x' } as never).next()).rejects.toThrow('Expected `signal` to be an AbortSignal');
    expect(nodes.flatMap((node) => node.calls)).toEqual([]);
  });
});
