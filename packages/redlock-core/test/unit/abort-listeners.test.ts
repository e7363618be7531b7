import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { onAbort } from '../../src/base/abort-listeners.js';

describe('onAbort()', () => {
  it('keeps one listener on a signal for all its callbacks, and removes it with the last callback', () => {
    const { signal } = new AbortController();
    const removers = Array.from({ length: 30 }, () => onAbort(signal, () => undefined));
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    for (const remove of removers.slice(1)) remove();
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    removers[0]!();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    // Listening again afterwards adds a listener again.
    const remove = onAbort(signal, () => undefined);
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    remove();
    remove();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('calls every callback still registered once when the signal aborts, also one that another removes meanwhile', () => {
    const controller = new AbortController();
    const called: string[] = [];
    let removeLast = (): void => undefined;
    onAbort(controller.signal, () => {
      called.push('first');
      removeLast();
    });
    removeLast = onAbort(controller.signal, () => called.push('last'));
    onAbort(controller.signal, () => called.push('removed before'))();
    controller.abort();
    controller.abort();
    expect(called).toEqual(['first', 'last']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
