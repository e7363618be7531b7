import { describe, expect, it } from '@jest/globals';
import {
  LockAcquireError,
  LockInspectError,
  MisconfiguredNodeError,
  NodeError,
  NodeConfigurationError,
  PermitError,
  ReadWriteLockError,
  type AcquireFailureReason,
  type PermitFailureReason,
  type ReadWriteFailureReason,
} from 'redlock-core';
import { EXIT_CODES, exitCodeForLockError, exitCodeForSignal } from '../../src/exit-codes.js';

const acquireError = (reason: AcquireFailureReason): LockAcquireError =>
  new LockAcquireError('Could not acquire "r"', { resources: ['r'], attempts: [], reason });

describe('exitCodeForLockError', () => {
  it.each([
    ['held-by-another-owner', EXIT_CODES.conflict],
    ['nodes-unreachable', EXIT_CODES.unavailable],
    ['no-validity', EXIT_CODES.unavailable],
    ['foreign-key', EXIT_CODES.configuration],
  ] as const)('maps a LockAcquireError with reason %s to %d', (reason, exitCode) => {
    expect(exitCodeForLockError(acquireError(reason))).toBe(exitCode);
  });

  it.each([
    ['no-permits-free', EXIT_CODES.conflict],
    ['nodes-unreachable', EXIT_CODES.unavailable],
    ['no-validity', EXIT_CODES.unavailable],
    ['foreign-key', EXIT_CODES.configuration],
    ['limit-mismatch', EXIT_CODES.configuration],
  ] as const)('maps a PermitError (--permits) with reason %s to %d, the conflict status as -E gives it', (reason: PermitFailureReason, exitCode) => {
    const error = new PermitError('Could not acquire 1 of 3 permits of "r"', { operation: 'acquire', resource: 'r', permits: 1, reason });
    expect(exitCodeForLockError(error)).toBe(exitCode);
    expect(exitCodeForLockError(error, 3)).toBe(reason === 'no-permits-free' ? 3 : exitCode);
  });

  it.each([
    ['locked', EXIT_CODES.conflict],
    ['nodes-unreachable', EXIT_CODES.unavailable],
    ['no-validity', EXIT_CODES.unavailable],
    ['foreign-key', EXIT_CODES.configuration],
    ['not-held', EXIT_CODES.internal],
  ] as const)('maps a ReadWriteLockError (--read, --write) with reason %s to %d, the conflict status as -E gives it', (reason: ReadWriteFailureReason, exitCode) => {
    for (const mode of ['read', 'write'] as const) {
      const error = new ReadWriteLockError(`Could not take the ${mode} lock on "r"`, { operation: 'acquire', resource: 'r', mode, reason });
      expect(exitCodeForLockError(error)).toBe(exitCode);
      expect(exitCodeForLockError(error, 3)).toBe(reason === 'locked' ? 3 : exitCode);
    }
  });

  it('maps a read-write lock inspection that too few nodes answered (--inspect --read) to unavailable', () => {
    const error = new ReadWriteLockError('Could not inspect "r"', { operation: 'inspect', resource: 'r', mode: undefined, reason: 'nodes-unreachable' });
    expect(exitCodeForLockError(error)).toBe(EXIT_CODES.unavailable);
  });

  it.each(['no-permission', 'no-auth', 'moved', 'cross-slot'] as const)('maps a MisconfiguredNodeError (%s) to the configuration status', (problem) => {
    const nodeError = new NodeError('Node 0 failed: NOPERM', { nodeIndex: 0, isTimeout: false, cause: new Error('NOPERM') });
    const error = new MisconfiguredNodeError('Could not acquire "r": node 0 refused', { resources: ['r'], problem, nodeErrors: [nodeError] });
    expect(exitCodeForLockError(error)).toBe(EXIT_CODES.configuration);
  });

  it('uses the conflict status given by -E for contention only', () => {
    expect(exitCodeForLockError(acquireError('held-by-another-owner'), 3)).toBe(3);
    expect(exitCodeForLockError(acquireError('nodes-unreachable'), 3)).toBe(EXIT_CODES.unavailable);
  });

  it('maps a deployment problem to the configuration status, an unanswered inspection to unavailable', () => {
    const sameServer = new NodeConfigurationError('Nodes 0 and 1 are one server', { nodeIndexes: [0, 1], problem: 'same-server' });
    expect(exitCodeForLockError(sameServer)).toBe(EXIT_CODES.configuration);
    expect(exitCodeForLockError(new LockInspectError('Could not inspect "r"', { resource: 'r', nodes: [] }))).toBe(
      EXIT_CODES.unavailable,
    );
  });

  it('reads the public name, so an error from another copy of the library maps the same', () => {
    const copy = Object.assign(new Error('Could not acquire "r"'), { name: 'LockAcquireError', reason: 'nodes-unreachable' });
    expect(exitCodeForLockError(copy)).toBe(EXIT_CODES.unavailable);
  });

  it('maps a resource the library refuses to a usage error, anything else to internal', () => {
    expect(exitCodeForLockError(new RangeError('Expected `resources` ...'))).toBe(EXIT_CODES.usage);
    expect(exitCodeForLockError(new TypeError('Expected `resources` ...'))).toBe(EXIT_CODES.usage);
    expect(exitCodeForLockError(new Error('boom'))).toBe(EXIT_CODES.internal);
    expect(exitCodeForLockError('boom')).toBe(EXIT_CODES.internal);
    expect(exitCodeForLockError(Object.assign(new Error('x'), { name: 'LockAcquireError', reason: 'new-reason' }))).toBe(
      EXIT_CODES.internal,
    );
  });
});

describe('exitCodeForSignal', () => {
  it('is 128 + the signal number, as shells report it', () => {
    expect(exitCodeForSignal('SIGINT')).toBe(130);
    expect(exitCodeForSignal('SIGTERM')).toBe(143);
    expect(exitCodeForSignal('SIGKILL')).toBe(137);
    expect(exitCodeForSignal('SIGHUP')).toBe(129);
  });
});

describe('EXIT_CODES', () => {
  it('are distinct and never collide with 128+N or a shell status', () => {
    const codes = Object.values(EXIT_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.filter((code) => code < 126).every((code) => code >= 64 && code <= 78)).toBe(true);
  });
});
