// What the ioredis adapter's write coalescing (`coalesceWrites`, on by default) costs a lone lock: one
// command to each of 5 sockets per turn of the event loop, as a serial acquire+release sends them, none of
// them ever held. The clients are stand-ins whose commands write to a real Node `Writable` (one that
// completes its writes at once, as a socket with room does) and resolve; so the count is ioredis-free and
// deterministic, and `on` minus `off` is the coalescing's own work per turn. Run by coalescing-cost.sh.
// Usage: node bench/scripts/coalescing-cost.mjs <on|off> <turns>   (after `pnpm run build`)
import { Writable } from 'node:stream';
import { IoredisAdapter } from 'redlock-ioredis-adapter';

const [mode, turns] = [process.argv[2] ?? 'on', Number(process.argv[3] ?? 1000)];
if (mode !== 'on' && mode !== 'off') throw new Error(`Unknown mode ${mode}: on or off`);
const command = Buffer.from('*1\r\n$4\r\nPING\r\n');
const reply = Promise.resolve('OK');
const adapters = Array.from({ length: 5 }, () => {
  const stream = new Writable({ write: (_chunk, _encoding, done) => done(), writev: (_chunks, done) => done() });
  const client = {
    stream,
    options: {},
    set() {
      stream.write(command);
      return reply;
    },
  };
  return new IoredisAdapter(client, { notifications: false, coalesceWrites: mode === 'on' });
});
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
for (let turn = 0; turn < turns; turn += 1) {
  for (const adapter of adapters) void adapter.trySet('coalescing-cost', 'token', 10_000);
  await nextTurn();
}
