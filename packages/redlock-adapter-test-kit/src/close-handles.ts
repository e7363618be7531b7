import type { AdapterHandle } from './adapter-factory.js';

/** How long one adapter's `close()` may take, in milliseconds: a client to a paused node may never finish. */
const CLOSE_TIMEOUT_MS = 2_000;

/** Closes every handle, in parallel, each bounded by 2 s; a failed or hung close does not fail the suite. */
export async function closeAll(handles: readonly AdapterHandle[]): Promise<void> {
  await Promise.all(
    handles.map(async (handle) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.resolve()
          .then(() => handle.close())
          .catch(() => undefined),
        new Promise((resolve) => {
          timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
    }),
  );
}
