import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { QUIT_TIMEOUT_MS, quitClient } from '../../src/index.js';

/** A client whose QUIT settles as `quit` says; records the calls. */
function fakeClient(status: string, quit: () => Promise<unknown>) {
  const calls: string[] = [];
  return {
    calls,
    status,
    quit() {
      calls.push('quit');
      return quit();
    },
    disconnect() {
      calls.push('disconnect');
    },
  };
}

describe('quitClient()', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('sends QUIT and leaves a client that ended on its reply as it is', async () => {
    const client = fakeClient('ready', async () => {
      client.status = 'end';
      return 'OK';
    });
    await quitClient(client);
    expect(client.calls).toEqual(['quit']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it(`disconnects a client whose QUIT has no reply within the timeout (${QUIT_TIMEOUT_MS} ms by default)`, async () => {
    const client = fakeClient('ready', () => new Promise(() => undefined));
    const quitting = quitClient(client);
    await jest.advanceTimersByTimeAsync(QUIT_TIMEOUT_MS - 1);
    expect(client.calls).toEqual(['quit']);
    await jest.advanceTimersByTimeAsync(1);
    await quitting;
    expect(client.calls).toEqual(['quit', 'disconnect']);
  });

  it('waits for the timeout given, and resolves when QUIT rejects', async () => {
    const silent = fakeClient('ready', () => new Promise(() => undefined));
    const quitting = quitClient(silent, 50);
    await jest.advanceTimersByTimeAsync(50);
    await quitting;
    expect(silent.calls).toEqual(['quit', 'disconnect']);

    const refused = fakeClient('connecting', () => Promise.reject(new Error('Connection is closed.')));
    await expect(quitClient(refused)).resolves.toBeUndefined();
    expect(refused.calls).toEqual(['quit', 'disconnect']);
  });

  it('disconnects at once a client with no connection to its node, where QUIT would wait out the timeout', async () => {
    for (const status of ['reconnecting', 'wait']) {
      const down = fakeClient(status, () => new Promise(() => undefined));
      await quitClient(down);
      expect(down.calls).toEqual(['disconnect']);
    }
    expect(jest.getTimerCount()).toBe(0);
  });
});
