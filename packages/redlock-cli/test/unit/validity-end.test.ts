import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { GIVE_UP_MS, watchValidityEnd } from '../../src/validity-end.js';

/** A hold whose validity ends at `endsAt` (fake clock); `extend()` moves the end as a successful extension does. */
function holdFor(validityMs: number) {
  const library = new AbortController();
  let endsAt = Date.now() + validityMs;
  return {
    library,
    held: {
      signal: library.signal,
      state: 'held',
      get remainingValidityMs() {
        return Math.max(0, endsAt - Date.now());
      },
    },
    extend(validity: number) {
      endsAt = Date.now() + validity;
    },
  };
}

describe('watchValidityEnd', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it(`gives up on a hold no extension renewed once ${GIVE_UP_MS} ms of its validity are left`, () => {
    const { held } = holdFor(2_000);
    const watch = watchValidityEnd(held, 'the lock on "res"');
    jest.advanceTimersByTime(2_000 - GIVE_UP_MS - 1);
    expect(watch.signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(watch.signal.aborted).toBe(true);
    expect((watch.signal.reason as Error).message).toBe(
      `Lost the lock on "res": no extension succeeded, and ${GIVE_UP_MS} ms of its validity are left`,
    );
    expect(jest.getTimerCount()).toBe(0);
  });

  it('follows each extension to the new end of the validity', () => {
    const hold = holdFor(2_000);
    const watch = watchValidityEnd(hold.held, 'the lock on "res"');
    jest.advanceTimersByTime(1_000);
    hold.extend(2_000);
    // The timer set for the first end fires, finds the end moved, and waits for the new one.
    jest.advanceTimersByTime(2_000 - GIVE_UP_MS - 1);
    expect(watch.signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(watch.signal.aborted).toBe(true);
  });

  it("aborts with the library's reason when the library finds the hold lost first", () => {
    const { held, library } = holdFor(2_000);
    const watch = watchValidityEnd(held, 'the lock on "res"');
    const lost = new Error('Lost the lock on "res": a quorum of nodes no longer holds our token');
    library.abort(lost);
    expect(watch.signal.reason).toBe(lost);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('gives up at once on a hold that is no longer held or has too little validity left', () => {
    const released = holdFor(2_000);
    released.held.state = 'expired';
    expect(watchValidityEnd(released.held, 'the permit of "res"').signal.aborted).toBe(true);
    expect(watchValidityEnd(holdFor(GIVE_UP_MS).held, 'the lock on "res"').signal.aborted).toBe(true);
  });

  it('stop() leaves no timer and no listener, and the signal never aborts', () => {
    const { held, library } = holdFor(2_000);
    const watch = watchValidityEnd(held, 'the lock on "res"');
    watch.stop();
    expect(jest.getTimerCount()).toBe(0);
    library.abort(new Error('released'));
    jest.advanceTimersByTime(5_000);
    expect(watch.signal.aborted).toBe(false);
  });
});
