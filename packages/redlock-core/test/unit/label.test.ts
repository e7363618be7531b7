import { describe, expect, it } from '@jest/globals';
import { LockExtendError, MAX_LABEL_LENGTH, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { pubSubNode } from '../support/fake-pubsub.js';
import { grantingNodes } from '../../src/testing/fake-nodes.js';

function setup(nodeCount = 3): { clock: FakeClock; nodes: ReturnType<typeof grantingNodes>; redlock: Redlock } {
  const clock = new FakeClock();
  const nodes = grantingNodes(clock, nodeCount);
  return { clock, nodes, redlock: new Redlock(nodes, { clock, retryCount: 0 }) };
}

describe('lock.setLabel() and the label of inspect()', () => {
  it('reports the label a quorum of nodes hold for the current holder, kept by later extensions', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('jobs', 1_000));
    expect((await clock.runUntilSettled(redlock.inspect('jobs'))).label).toBeUndefined();
    await clock.runUntilSettled(lock.setLabel('host-a'));
    expect((await clock.runUntilSettled(redlock.inspect('jobs'))).label).toBe('host-a');
    // An extension keeps the label as long as the lock: both outlive the first TTL.
    await clock.advance(600);
    await clock.runUntilSettled(lock.extend(1_000));
    await clock.advance(600);
    expect(nodes.map((node) => node.keyspace.pttl('{jobs}:label'))).toEqual([400, 400, 400]);
    expect((await clock.runUntilSettled(redlock.inspect('jobs'))).label).toBe('host-a');
    await clock.runUntilSettled(lock.setLabel(''));
    expect((await clock.runUntilSettled(redlock.inspect('jobs'))).label).toBeUndefined();
    expect(nodes.map((node) => node.keyspace.typeOf('{jobs}:label'))).toEqual(['none', 'none', 'none']);
  });

  it("never reports an earlier holder's label for a later holder, nor a label that only a minority holds", async () => {
    const { clock, nodes, redlock } = setup();
    const first = await clock.runUntilSettled(redlock.acquire('jobs', 1_000));
    await clock.runUntilSettled(first.setLabel('host-a'));
    // Released by a call that knows nothing of labels: the label key stays until it expires.
    await clock.runUntilSettled(redlock.releaseByToken('jobs', first.token));
    const second = await clock.runUntilSettled(redlock.acquire('jobs', 1_000));
    expect(nodes.map((node) => node.keyspace.typeOf('{jobs}:label'))).toEqual(['string', 'string', 'string']);
    expect((await clock.runUntilSettled(redlock.inspect('jobs'))).label).toBeUndefined();
    nodes[1]!.isDown = true;
    nodes[2]!.isDown = true;
    await expect(clock.runUntilSettled(second.setLabel('host-b'))).rejects.toThrow(LockExtendError);
    nodes[2]!.isDown = false;
    // Node 0 holds host-b now, and nodes 1 and 2 the earlier holder's label, which is not this lock's.
    expect((await clock.runUntilSettled(redlock.inspect('jobs'))).label).toBeUndefined();
    await clock.runUntilSettled(second.setLabel('host-b'));
    expect((await clock.runUntilSettled(redlock.inspect('jobs'))).label).toBe('host-b');
  });

  it('sends the label it had before in later extensions once setLabel() rejected, not the rejected one', async () => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('jobs', 1_000));
    await clock.runUntilSettled(lock.setLabel('host-a'));
    nodes[1]!.failNext('extend');
    nodes[2]!.failNext('extend');
    await expect(clock.runUntilSettled(lock.setLabel('host-b'))).rejects.toThrow(LockExtendError);
    await clock.runUntilSettled(lock.extend(1_000));
    // Written back where host-b was taken, and kept elsewhere.
    expect((await clock.runUntilSettled(redlock.inspect('jobs'))).label).toBe('host-a');
    expect(nodes.map((node) => node.calls.filter((call) => call.script === 'extend').at(-1)?.args.includes('host-b'))).toEqual([false, false, false]);
    expect(nodes.map((node) => node.keyspace.get('{jobs}:label')?.endsWith('host-a'))).toEqual([true, true, true]);
    // A lock never labelled goes back to sending no label at all.
    const other = await clock.runUntilSettled(redlock.acquire('other', 1_000));
    for (const node of nodes.slice(1)) node.failNext('extend');
    await expect(clock.runUntilSettled(other.setLabel('host-c'))).rejects.toThrow(LockExtendError);
    await clock.runUntilSettled(other.extend(1_000));
    expect(nodes.map((node) => node.calls.filter((call) => call.script === 'extend').at(-1)?.keys)).toEqual(Array(3).fill(['other']));
  });

  it.each([
    [42, TypeError, 'Expected `label` to be a string, got `42`'],
    ['x'.repeat(MAX_LABEL_LENGTH + 1), RangeError, `Expected \`label\` to be at most ${MAX_LABEL_LENGTH} characters, got ${MAX_LABEL_LENGTH + 1}`],
  ])('refuses the label %#, before any node call', async (label, type, message) => {
    const { clock, nodes, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('jobs', 1_000));
    const callCount = nodes[0]!.calls.length;
    await expect(lock.setLabel(label as string)).rejects.toThrow(new type(message));
    expect(nodes[0]!.calls.length).toBe(callCount);
  });

  it('refuses to label a released lock, before any node call', async () => {
    const { clock, redlock } = setup();
    const lock = await clock.runUntilSettled(redlock.acquire('jobs', 1_000));
    await clock.runUntilSettled(lock.release());
    await expect(lock.setLabel('host-a')).rejects.toThrow('Could not extend "jobs": the lock is already released');
  });

  it('tells watchers of each label change a node announces, and subscribes no more once they stop', async () => {
    const clock = new FakeClock();
    const nodes = [pubSubNode(clock), pubSubNode(clock), pubSubNode(clock)];
    const redlock = new Redlock(nodes, { clock, retryCount: 0 });
    let heard = 0;
    const stop = redlock.watchLabel('jobs', () => (heard += 1));
    await clock.advance(0);
    expect(nodes.map((node) => node.subscribeCalls)).toEqual(Array(3).fill(['redlock:label:jobs']));
    const lock = await clock.runUntilSettled(redlock.acquire('jobs', 1_000));
    await clock.runUntilSettled(lock.setLabel('host-a'));
    expect(heard).toBe(3);
    // The same label again changes nothing, so nothing is announced.
    await clock.runUntilSettled(lock.setLabel('host-a'));
    await clock.runUntilSettled(lock.release());
    expect(heard).toBe(3);
    stop();
    await clock.advance(0);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0]);
    await clock.runUntilSettled(redlock.close());
  });

  it('closes without waiting for a SUBSCRIBE still in flight, and ends it once it is in place', async () => {
    const clock = new FakeClock();
    const nodes = [pubSubNode(clock), pubSubNode(clock), pubSubNode(clock)];
    nodes[1]!.subscribeDelayMs = 60_000;
    const redlock = new Redlock(nodes, { clock });
    redlock.watchLabel('jobs', () => undefined);
    // A watch already stopped, whose SUBSCRIBE is still in flight, holds up close() no more than a live one.
    redlock.watchLabel('reports', () => undefined)();
    await clock.advance(0);
    const closedAt = clock.now();
    await clock.runUntilSettled(redlock.close());
    expect(clock.now() - closedAt).toBeLessThan(100);
    await clock.advance(60_000);
    expect(nodes.map((node) => node.subscriptionCount)).toEqual([0, 0, 0]);
  });

  it('refuses a watch of a bad resource or listener', () => {
    const { redlock } = setup();
    expect(() => redlock.watchLabel('', () => undefined)).toThrow(RangeError);
    expect(() => redlock.watchLabel('jobs', 'x' as unknown as () => void)).toThrow('Expected `listener` to be a function, got `string`');
  });
});
