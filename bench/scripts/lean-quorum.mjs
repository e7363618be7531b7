// The vote of the lean reference loop in core-loop.mjs (over in-memory nodes) and client-loop.mjs (through
// the ioredis adapter, on real nodes): the least a Redlock can do in-process to decide a fan-out.

/**
 * Sends `send(adapter)` to every adapter at once and resolves `true` the moment 3 replies satisfy `isYes`,
 * `false` the moment 3 do not (a rejection counts as no), or after `timeoutMs`: one timer per fan-out.
 */
export function leanQuorum(adapters, send, isYes, timeoutMs) {
  return new Promise((resolve) => {
    let yes = 0;
    let no = 0;
    let isDone = false;
    const finish = (hasQuorum) => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      resolve(hasQuorum);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    for (const adapter of adapters) send(adapter).then((reply) => (isYes(reply) ? ++yes === 3 && finish(true) : ++no === 3 && finish(false)), () => ++no === 3 && finish(false));
  });
}
