import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { LockAcquireError, LockExtendError, LockLostError, MisconfiguredNodeError, NodeError, PermitError, ReadWriteLockError } from '../../src/index.js';

/** The error of node `nodeIndex`, with a client error as its cause. */
function nodeErrorOf(nodeIndex: number): NodeError {
  return new NodeError(`Node ${nodeIndex} failed: connect ECONNREFUSED`, { nodeIndex, isTimeout: false, cause: new Error('connect ECONNREFUSED') });
}

/** `count` attempts on 5 nodes, nodes 2 to 4 failing in each, the others answering `granted`. */
function failedAttempts<S extends string>(count: number, granted: S) {
  return Array.from({ length: count }, () => ({
    nodes: [
      { nodeIndex: 0, status: granted },
      { nodeIndex: 1, status: granted },
      ...[2, 3, 4].map((nodeIndex) => ({ nodeIndex, status: 'error' as const, error: nodeErrorOf(nodeIndex) })),
    ],
    elapsedMs: 3,
  }));
}

/** The lines of `printed` but its stack frames, whose number depends on the test runner's `Error.stackTraceLimit`. */
const linesBesideFrames = (printed: string): string[] => printed.split('\n').filter((line) => !line.startsWith('    at '));

const acquireError = (): LockAcquireError =>
  new LockAcquireError('Could not acquire "x" after 11 attempts: nodes unreachable', { resources: ['x'], attempts: failedAttempts(11, 'acquired'), reason: 'nodes-unreachable' });

describe('util.inspect of a RedlockError', () => {
  it('prints a LockAcquireError of 11 attempts in a screen: stack, fields, each node in the last attempt, its latest error', () => {
    const printed = inspect(acquireError());
    expect(linesBesideFrames(printed).length).toBeLessThan(16);
    expect(printed).toMatch(/^LockAcquireError: Could not acquire "x" after 11 attempts: nodes unreachable\n {4}at /);
    expect(printed).toContain("resources: [ 'x' ],");
    expect(printed).toContain('attempts: [11 attempts, the last: 0 acquired, 1 acquired, 2 error, 3 error, 4 error; see error.attempts],');
    expect(printed).toContain('nodeErrors: [33 errors, the latest of each node:\n    node 2: NodeError: Node 2 failed: connect ECONNREFUSED\n');
    expect(printed).toContain("reason: 'nodes-unreachable'");
  });

  it('prints nothing bulky where custom inspection is off, as in Node\'s report of an uncaught error', () => {
    const printed = inspect(acquireError(), { customInspect: false, depth: 5 });
    expect(printed).toContain('attempts: [Getter]');
    expect(printed).toContain('nodeErrors: [Getter]');
    expect(linesBesideFrames(printed).length).toBeLessThan(16);
  });

  it('leaves the fields as they were: same values, enumerable, serialized by JSON.stringify', () => {
    const attempts = failedAttempts(2, 'acquired');
    const error = new LockAcquireError('Could not acquire "x"', { resources: ['x'], attempts, reason: 'nodes-unreachable' });
    expect(error.attempts).toBe(attempts);
    expect(error.nodeErrors).toEqual(attempts.flatMap((attempt) => attempt.nodes.flatMap((node) => ('error' in node ? [node.error] : []))));
    expect(Object.keys(error)).toEqual(['name', 'resources', 'attempts', 'attemptCount', 'omittedAttemptCount', 'reason', 'waitMs', 'nodeErrors']);
    expect(JSON.parse(JSON.stringify(error)).attempts[1].nodes[2]).toEqual({ nodeIndex: 2, status: 'error', error: { name: 'NodeError', nodeIndex: 2, isTimeout: false, isDown: false } });
    expect({ ...error }.attempts).toBe(attempts);
    expect(error).toMatchObject({ attempts: [{ elapsedMs: 3 }, { elapsedMs: 3 }], attemptCount: 2 });
  });

  it('prints node outcomes as each node\'s answer (LockExtendError, PermitError, ReadWriteLockError)', () => {
    const nodes = [{ nodeIndex: 0, status: 'extended' as const }, { nodeIndex: 1, status: 'error' as const, error: nodeErrorOf(1) }];
    expect(inspect(new LockExtendError('Could not extend', { resources: ['x'], nodes, isLost: false }))).toContain('nodes: [0 extended, 1 error; see error.nodes],');
    const permitError = new PermitError('Could not take', { operation: 'acquire', resource: 's', permits: 1, reason: 'nodes-unreachable', attempts: failedAttempts(1, 'admitted') });
    expect(inspect(permitError)).toContain('attempts: [1 attempt, the last: 0 admitted, 1 admitted, 2 error, 3 error, 4 error; see error.attempts],');
    expect(inspect(permitError)).toContain('nodes: [],');
    const readWriteError = new ReadWriteLockError('Could not release', { operation: 'release', resource: 'r', mode: 'read', reason: 'nodes-unreachable', nodes });
    expect(inspect(readWriteError)).toContain('nodes: [0 extended, 1 error; see error.nodes],');
  });

  it('prints a cause as its first line (NodeError, LockLostError, MisconfiguredNodeError)', () => {
    const printed = inspect(nodeErrorOf(3));
    expect(printed).toMatch(/^NodeError: Node 3 failed: connect ECONNREFUSED\n {4}at /);
    expect(printed).toContain('nodeIndex: 3,');
    expect(printed).toContain('[cause]: Error: connect ECONNREFUSED\n}');
    const extendError = new LockExtendError('Could not extend "x"', { resources: ['x'], nodes: [], isLost: true });
    expect(inspect(new LockLostError('Lost "x"', { resources: ['x'], cause: extendError }))).toContain('[cause]: LockExtendError: Could not extend "x"\n}');
    const misconfigured = new MisconfiguredNodeError('Node 1 refused', { resources: ['x'], problem: 'no-auth', nodeErrors: [nodeErrorOf(1)] });
    expect(inspect(misconfigured)).toContain('[cause]: NodeError: Node 1 failed: connect ECONNREFUSED');
  });

  it('prints a RedlockError nested deeper than the depth as [name: message]', () => {
    expect(inspect({ error: nodeErrorOf(0) }, { depth: 0 })).toContain('[NodeError: Node 0 failed: connect ECONNREFUSED]');
  });
});
